"""A hand-written parser for SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

A small tokenizer feeds a recursive-descent parser with one function per precedence level
(``or`` < ``and`` < ``not``/parentheses/attribute expressions). The parser is liberal in the
ways real identity providers need and strict everywhere else:

- operators, ``and``/``or``/``not``/``pr`` and the literals ``true``/``false``/``null`` are
  case-insensitive (ABNF literals are; PingOne sends ``username Eq "x"``);
- a bare word where a value belongs is a string value (Entra sends ``externalId eq jyoung``),
  except JSON numbers and the literals, which keep their JSON meaning;
- ``emails[type eq "work"].value eq "x"`` (not RFC grammar, common in the field) is read as
  ``ValuePath(emails, And(type eq "work", value eq "x"))``;
- any amount of whitespace separates tokens.

Every failure raises ``InvalidFilter`` (``parse_filter``) or ``InvalidPath``
(``parse_patch_path``) with a detail naming the position, what was expected and what was found.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from domain.errors import InvalidFilter, InvalidPath, ScimError
from domain.limits import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_TERMS, MAX_NUMBER_LENGTH
from domain.filter.ast import (
    COMPARE_OPS,
    And,
    AttrPath,
    Compare,
    CompValue,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)

__all__ = ["parse_filter", "parse_patch_path"]

# How long a filter or path may be, how deeply parentheses / not / value filters may nest, how
# many attribute expressions it may hold and how long a number in it may be (domain/limits.py).
MAX_DEPTH = MAX_FILTER_DEPTH
MAX_LENGTH = MAX_FILTER_LENGTH
MAX_TERMS = MAX_FILTER_TERMS

_NAME = r"\$?[A-Za-z][A-Za-z0-9_\-]*"
_NAME_RE = re.compile(_NAME)
_JSON_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][+-]?[0-9]+)?")
# A URN prefix: "urn:" followed by colon-separated segments of URN characters.
_URN_RE = re.compile(r"urn(?::[A-Za-z0-9()+,\-.;=@$_!*'%/?#]+)+", re.IGNORECASE)
_PUNCT = "()[]"
_LOGICAL = ("and", "or")


# --------------------------------------------------------------------------- tokens


class _Token(NamedTuple):  # a tuple: tokens are made by the thousand
    kind: str  # "word" | "string" | "(" | ")" | "[" | "]" | "end"
    text: str  # the source text of the token
    pos: int  # 0-based offset into the source
    value: str | None = None  # the decoded value of a "string" token

    def describe(self) -> str:
        if self.kind == "end":
            return "end of input"
        return repr(self.text if len(self.text) <= 40 else self.text[:37] + "...")


# One token per match, scanned at C speed: whitespace, punctuation, a JSON string (its closing
# quote optional, so that an unterminated one is found and reported), or a word.
_TOKEN_RE = re.compile(
    r'(?P<space>\s+)|(?P<punct>[()\[\]])|(?P<string>"(?:[^"\\]|\\.)*(?P<close>")?)|(?P<word>[^\s()\[\]"]+)',
    re.DOTALL,
)


def _tokenize(text: str, error: type[ScimError]) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN_RE.finditer(text):
        kind, start, literal = match.lastgroup, match.start(), match.group()
        if kind == "space":
            continue
        if kind == "punct":
            tokens.append(_Token(literal, literal, start))
        elif kind == "word":
            tokens.append(_Token("word", literal, start))
        else:  # a string
            if match.group("close") is None:
                raise error(f"unterminated string starting at position {start}")
            tokens.append(_Token("string", literal, start, _decode_string(literal, start, error)))
    tokens.append(_Token("end", "", len(text)))
    return tokens


_STRING_DECODER = json.JSONDecoder(strict=False)


def _decode_string(literal: str, pos: int, error: type[ScimError]) -> str:
    try:
        value = literal[1:-1] if "\\" not in literal else _STRING_DECODER.decode(literal)
    except (ValueError, RecursionError) as exc:
        raise error(f"invalid string at position {pos}: {exc}") from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"invalid string at position {pos}: unpaired surrogate escape") from None
    return value


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, error: type[ScimError]):
        self.error = error
        if len(text) > MAX_LENGTH:
            raise error(f"too long: {len(text)} characters (at most {MAX_LENGTH})")
        self.tokens = _tokenize(text, error)
        self.index = 0
        self.depth = 0
        self.terms = 0

    # -- token helpers

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.current
        return token.kind == "word" and token.text.lower() in words

    def expect(self, kind: str, what: str) -> _Token:
        if self.current.kind != kind:
            self.fail(what)
        return self.advance()

    def fail(self, expected: str, token: _Token | None = None) -> None:
        token = token or self.current
        raise self.error(f"at position {token.pos}: expected {expected}, found {token.describe()}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"at position {self.current.pos}: nested more than {MAX_DEPTH} deep")

    # -- grammar: FILTER

    def filter(self, in_brackets: bool = False) -> Filter:
        """``or``-level: FILTER = term ("or" term)*"""
        node = self.conjunction(in_brackets)
        while self.at_keyword("or"):
            self.advance()
            node = Or(node, self.conjunction(in_brackets))
        return node

    def conjunction(self, in_brackets: bool) -> Filter:
        node = self.unary(in_brackets)
        while self.at_keyword("and"):
            self.advance()
            node = And(node, self.unary(in_brackets))
        return node

    def unary(self, in_brackets: bool) -> Filter:
        token = self.current
        if token.kind == "word" and token.text.lower() == "not":
            self.advance()
            if self.current.kind != "(":
                self.fail('"(" after "not"')
            return Not(self.group(in_brackets))
        if token.kind == "(":
            return self.group(in_brackets)
        if token.kind == "word":
            return self.attribute_expression(in_brackets)
        self.fail('an attribute path, "not" or "("')
        raise AssertionError  # unreachable; fail() raises

    def group(self, in_brackets: bool) -> Filter:
        self.expect("(", '"("')
        self.nest()
        node = self.filter(in_brackets)
        self.expect(")", '"and", "or" or ")"')
        self.depth -= 1
        return node

    def attribute_expression(self, in_brackets: bool) -> Filter:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"at position {self.current.pos}: more than {MAX_TERMS} expressions")
        path_token = self.advance()
        path = self.attr_path(path_token)
        if self.current.kind == "[":
            if in_brackets:
                self.fail('an operator (value filters cannot nest)')
            return self.value_path(path)
        return self.comparison(path)

    def comparison(self, path: AttrPath) -> Filter:
        op_token = self.current
        op = op_token.text.lower() if op_token.kind == "word" else ""
        if op == "pr":
            self.advance()
            return Present(path)
        if op not in COMPARE_OPS:
            self.fail('an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)')
        self.advance()
        return Compare(path, op, self.comp_value())

    def value_path(self, path: AttrPath) -> Filter:
        self.expect("[", '"["')
        self.nest()
        inner = self.filter(in_brackets=True)
        self.expect("]", '"and", "or" or "]"')
        self.depth -= 1
        token = self.current
        if token.kind == "word" and token.text.startswith("."):
            # Non-RFC `emails[type eq "work"].value eq "x"`: one value must match both.
            self.advance()
            sub = token.text[1:]
            if not _NAME_RE.fullmatch(sub):
                self.fail("a sub-attribute name after \"].\"", token)
            return ValuePath(path, And(inner, self.comparison(AttrPath(None, sub))))
        return ValuePath(path, inner)

    def comp_value(self) -> CompValue:
        token = self.current
        if token.kind == "string":
            self.advance()
            return token.value
        if token.kind != "word" or token.text.lower() in _LOGICAL:
            self.fail("a value (a string, number, true, false or null)")
        self.advance()
        if len(token.text) > MAX_NUMBER_LENGTH and _JSON_NUMBER_RE.fullmatch(token.text):
            # Python cannot even convert an integer of more than 4,300 digits; no value is this long.
            raise self.error(
                f"at position {token.pos}: a number of more than {MAX_NUMBER_LENGTH} characters"
            )
        return _word_value(token.text)

    # -- attribute paths

    def attr_path(self, token: _Token) -> AttrPath:
        """``[URI ":"] ATTRNAME ["." subAttr]``; the name is what follows the URN's last colon."""
        text = token.text
        urn: str | None = None
        rest = text
        if ":" in text:
            urn, _, rest = text.rpartition(":")
            if not _URN_RE.fullmatch(urn):
                self.fail("an attribute path (a schema URN must look like urn:...:Name)", token)
        name, dot, sub = rest.partition(".")
        if not _NAME_RE.fullmatch(name) or (dot and not _NAME_RE.fullmatch(sub)):
            self.fail("an attribute path", token)
        return AttrPath(urn, name, sub if dot else None)


def _word_value(text: str) -> CompValue:
    """An unquoted value: a JSON literal or number, else the word itself as a string."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    match = _JSON_NUMBER_RE.fullmatch(text)
    if match:
        if match.group("frac") or match.group("exp"):
            number = float(text)
            if number == number and number not in (float("inf"), float("-inf")):
                return number
            return text
        return int(text)
    return text


# --------------------------------------------------------------------------- public API


def parse_filter(text: str) -> Filter:
    """Parse a SCIM filter (RFC 7644 §3.4.2.2) into its AST; ``InvalidFilter`` if malformed."""
    if not isinstance(text, str):
        raise InvalidFilter("the filter must be a string")
    parser = _Parser(text, InvalidFilter)
    if parser.current.kind == "end":
        raise InvalidFilter("the filter is empty")
    node = parser.filter()
    if parser.current.kind != "end":
        parser.fail('"and", "or" or end of input')
    return node


def parse_patch_path(text: str) -> PatchPath:
    """Parse a PATCH ``path`` (``attrPath / valuePath [subAttr]``); ``InvalidPath`` if malformed.

    ``emails[type eq "work"].value`` → ``PatchPath(emails, <type eq "work">, "value")``.
    """
    if not isinstance(text, str):
        raise InvalidPath("the path must be a string")
    parser = _Parser(text, InvalidPath)
    token = parser.current
    if token.kind != "word":
        parser.fail("an attribute path")
    parser.advance()
    attr = parser.attr_path(token)
    value_filter: Filter | None = None
    sub_attr: str | None = None
    if parser.current.kind == "[":
        parser.advance()
        if parser.current.kind == "]":
            parser.fail("a filter inside \"[ ]\"")
        value_filter = parser.filter(in_brackets=True)
        parser.expect("]", '"and", "or" or "]"')
        token = parser.current
        if token.kind == "word":
            if not token.text.startswith(".") or not _NAME_RE.fullmatch(token.text[1:]):
                parser.fail('".subAttribute" or end of input')
            parser.advance()
            sub_attr = token.text[1:]
    if parser.current.kind != "end":
        parser.fail('"[" or end of input' if value_filter is None else "end of input")
    return PatchPath(attr, value_filter, sub_attr)
