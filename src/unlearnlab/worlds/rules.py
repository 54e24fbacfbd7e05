"""Horn rules over binary relations, and the Datalog syntax they are written in.

Syntax (one rule may span lines; ``%`` starts a comment)::

    grandmother(X, Z) :- mother(X, Y), mother(Y, Z).
    sister(X, Y) :- mother(M, X), mother(M, Y), gender(X, "female"), X != Y.

Variables start with an upper-case letter (or ``_``), constants are double-quoted strings,
``X != Y`` is an inequality test. Every atom is binary, like the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass, field

from unlearnlab.errors import SourceError


@dataclass(frozen=True, slots=True)
class Var:
    """A rule variable."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Const:
    """A constant entity name."""

    value: str

    def __str__(self) -> str:
        return f'"{self.value}"'


Term = Var | Const


@dataclass(frozen=True, slots=True)
class Atom:
    """``relation(subject, object)`` with variables or constants as arguments."""

    relation: str
    subject: Term
    object: Term

    def __str__(self) -> str:
        return f"{self.relation}({self.subject}, {self.object})"


@dataclass(frozen=True, slots=True)
class Inequality:
    """The built-in test ``left != right``."""

    left: Term
    right: Term

    def __str__(self) -> str:
        return f"{self.left} != {self.right}"


@dataclass(frozen=True)
class Rule:
    """``head :- body atoms, inequalities.``

    ``source`` and ``line`` say where the rule was read; ``preamble`` is the text (comments,
    blank lines) that preceded it in its file, kept so that export reproduces the file.
    None of the three takes part in equality.
    """

    head: Atom
    body: tuple[Atom, ...]
    inequalities: tuple[Inequality, ...] = ()
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)
    preamble: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        literals = [str(a) for a in self.body] + [str(i) for i in self.inequalities]
        return f"{self.head} :- {', '.join(literals)}."

    def describe(self) -> str:
        """The rule with the place it was read from, e.g. ``rules.dl:12: a(X, Y) :- ...``."""
        return f"{self.source}:{self.line}: {self}" if self.source else str(self)


def _variables(terms: Iterable[Term]) -> set[str]:
    return {t.name for t in terms if isinstance(t, Var)}


# ----- tokenizer

_PUNCT = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", ".": "DOT"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    line: int
    column: int
    offset: int


def _tokenize(text: str, path: str) -> Iterator[_Token]:
    line, line_start, i = 1, 0, 0
    while i < len(text):
        char = text[i]
        column = i - line_start + 1
        if char == "\n":
            line, line_start, i = line + 1, i + 1, i + 1
        elif char.isspace():
            i += 1
        elif char == "%":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif char == '"':
            end = i + 1
            while end < len(text) and text[end] not in '"\n':
                end += 1
            if end >= len(text) or text[end] != '"':
                raise SourceError(path, line, column, "unterminated string; close it with '\"'")
            yield _Token("STRING", text[i + 1 : end], line, column, i)
            i = end + 1
        elif text.startswith(":-", i):
            yield _Token("IF", ":-", line, column, i)
            i += 2
        elif text.startswith("!=", i):
            yield _Token("NEQ", "!=", line, column, i)
            i += 2
        elif char in _PUNCT:
            yield _Token(_PUNCT[char], char, line, column, i)
            i += 1
        elif char.isalpha() or char == "_":
            end = i
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            kind = "VAR" if word[0].isupper() or word[0] == "_" else "NAME"
            yield _Token(kind, word, line, column, i)
            i = end
        else:
            raise SourceError(path, line, column, f"unexpected character {char!r}")
    yield _Token("EOF", "", line, i - line_start + 1, len(text))


_DESCRIBE = {
    "LPAREN": "'('",
    "RPAREN": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "IF": "':-'",
    "NEQ": "'!='",
    "EOF": "end of file",
    "STRING": "a string",
    "VAR": "a variable",
    "NAME": "a relation name",
}


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.tokens = list(_tokenize(text, path))
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def error(self, token: _Token, message: str) -> SourceError:
        return SourceError(self.path, token.line, token.column, message)

    def expect(self, kind: str, context: str) -> _Token:
        token = self.next()
        if token.kind != kind:
            found = f"'{token.text}'" if token.text else _DESCRIBE[token.kind]
            raise self.error(token, f"expected {_DESCRIBE[kind]} {context}, found {found}")
        return token

    def rules(self) -> list[Rule]:
        rules: list[Rule] = []
        preamble_start = 0
        while self.peek().kind != "EOF":
            start = self.peek()
            rule = self.rule()
            end = self.tokens[self.pos - 1]
            preamble = self.text[preamble_start : start.offset]
            preamble_start = end.offset + 1
            if preamble_start < len(self.text) and self.text[preamble_start] == "\n":
                preamble_start += 1
            rules.append(
                Rule(rule.head, rule.body, rule.inequalities, self.path, start.line, preamble)
            )
        return rules

    def rule(self) -> Rule:
        head_token = self.peek()
        head = self.atom("as the rule head")
        if self.peek().kind == "DOT":
            raise self.error(
                head_token,
                f"'{head}' has no body; rules files hold rules only, put facts in facts.jsonl",
            )
        self.expect("IF", f"after the head '{head}'")
        body: list[Atom] = []
        inequalities: list[Inequality] = []
        while True:
            token = self.peek()
            if token.kind == "NAME":
                body.append(self.atom("in the body"))
            elif token.kind in ("VAR", "STRING"):
                left = self.term()
                self.expect("NEQ", f"after '{token.text}' (the only built-in test is X != Y)")
                inequalities.append(Inequality(left, self.term()))
            else:
                found = f"'{token.text}'" if token.text else _DESCRIBE[token.kind]
                raise self.error(token, f"expected an atom or an inequality, found {found}")
            separator = self.next()
            if separator.kind == "DOT":
                break
            if separator.kind != "COMMA":
                found = f"'{separator.text}'" if separator.text else _DESCRIBE[separator.kind]
                raise self.error(
                    separator, f"expected ',' or '.' after a body literal, found {found}"
                )
        if not body:
            raise self.error(head_token, f"rule for '{head}' has no body atom")
        rule = Rule(head, tuple(body), tuple(inequalities))
        self.check_safe(rule, head_token)
        return rule

    def check_safe(self, rule: Rule, token: _Token) -> None:
        bound = set().union(*(_variables((a.subject, a.object)) for a in rule.body))
        for name in sorted(_variables((rule.head.subject, rule.head.object)) - bound):
            raise self.error(
                token,
                f"variable {name} in the head of '{rule.head.relation}' does not occur in the "
                "body; every head variable must be bound by a body atom",
            )
        for inequality in rule.inequalities:
            for name in sorted(_variables((inequality.left, inequality.right)) - bound):
                raise self.error(
                    token,
                    f"variable {name} in '{inequality}' does not occur in a body atom of the "
                    f"rule for '{rule.head.relation}'; bind it with an atom",
                )

    def atom(self, context: str) -> Atom:
        name = self.expect("NAME", context)
        self.expect("LPAREN", f"after '{name.text}'")
        subject = self.term()
        args = [subject]
        while self.peek().kind == "COMMA":
            self.next()
            args.append(self.term())
        close = self.expect("RPAREN", f"to close '{name.text}('")
        if len(args) != 2:
            raise self.error(
                close if len(args) > 2 else name,
                f"'{name.text}' has {len(args)} argument(s); relations are binary: "
                f"{name.text}(Subject, Object)",
            )
        return Atom(name.text, args[0], args[1])

    def term(self) -> Term:
        token = self.next()
        if token.kind == "VAR":
            return Var(token.text)
        if token.kind == "STRING":
            return Const(token.text)
        if token.kind == "NAME":
            raise self.error(
                token,
                f"'{token.text}' is neither a variable nor a constant; variables start with an "
                f'upper-case letter, constants are double-quoted: "{token.text}"',
            )
        found = f"'{token.text}'" if token.text else _DESCRIBE[token.kind]
        raise self.error(token, f"expected a variable or a quoted constant, found {found}")


def parse_rules(text: str, path: str = "<rules>") -> tuple[Rule, ...]:
    """Parse Datalog rules; a syntax error raises :class:`SourceError` with line and column."""
    return tuple(_Parser(text, path).rules())


def format_rules(rules: Iterable[Rule]) -> str:
    """Render rules as Datalog, each after the comments it was read with."""
    return "".join(f"{rule.preamble}{rule}\n" for rule in rules)


def unproducible_relations(rules: Iterable[Rule], from_facts: Set[str]) -> list[tuple[Rule, str]]:
    """(rule, relation) pairs where a body relation is neither stated nor any rule's head."""
    rules = list(rules)
    producible = set(from_facts) | {rule.head.relation for rule in rules}
    return [
        (rule, relation)
        for rule in rules
        for relation in dict.fromkeys(atom.relation for atom in rule.body)  # each once
        if relation not in producible
    ]
