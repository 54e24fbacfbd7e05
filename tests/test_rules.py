"""The Datalog rules syntax: parsing, formatting round trips, and word-for-word errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unlearnlab.errors import SourceError, UserError
from unlearnlab.worlds.kg import Fact, FactRecord, World
from unlearnlab.worlds.rules import (
    Atom,
    Const,
    Inequality,
    Rule,
    Var,
    format_rules,
    parse_rules,
    unproducible_relations,
)

X, Y, Z, P = Var("X"), Var("Y"), Var("Z"), Var("P")


def test_rule_with_variables_constants_and_inequality() -> None:
    (rule,) = parse_rules('sister(X, Y) :- child(X, P), child(Y, P), gender(X, "female"), X != Y.')
    assert rule == Rule(
        head=Atom("sister", X, Y),
        body=(
            Atom("child", X, P),
            Atom("child", Y, P),
            Atom("gender", X, Const("female")),
        ),
        inequalities=(Inequality(X, Y),),
    )


def test_constants_keep_spaces_and_comment_characters_and_underscore_is_a_variable() -> None:
    (rule,) = parse_rules('lives(_who, "New York % not a comment") :- born(_who, "New York").')
    assert rule.head == Atom("lives", Var("_who"), Const("New York % not a comment"))
    assert rule.body == (Atom("born", Var("_who"), Const("New York")),)


def test_inequality_with_a_constant_on_the_left() -> None:
    (rule,) = parse_rules('a(X, Y) :- b(X, Y), "bob" != X.')
    assert rule.inequalities == (Inequality(Const("bob"), X),)


def test_comments_blank_lines_and_multi_line_rules() -> None:
    text = (
        "% family rules\n"
        "\n"
        "grandmother(X, Z) :-   % X is Z's grandmother\n"
        "    mother(X, Y),\n"
        "    mother(Y, Z).\n"
        "% inverse\n"
        "child(X, Y) :- mother(Y, X). % trailing comment\n"
    )
    rules = parse_rules(text, "fam.dl")
    assert rules == (
        Rule(Atom("grandmother", X, Z), (Atom("mother", X, Y), Atom("mother", Y, Z))),
        Rule(Atom("child", X, Y), (Atom("mother", Y, X),)),
    )
    assert [(r.source, r.line) for r in rules] == [("fam.dl", 3), ("fam.dl", 7)]
    assert rules[0].preamble == "% family rules\n\n"
    assert rules[1].preamble == "% inverse\n"
    assert rules[1].describe() == "fam.dl:7: child(X, Y) :- mother(Y, X)."


def test_an_empty_or_comment_only_file_has_no_rules() -> None:
    assert parse_rules("") == ()
    assert parse_rules("% nothing here\n\n   \n") == ()


def test_rule_text_form() -> None:
    (rule,) = parse_rules('a(X,Y):-b(X,Y),c(Y,"d e"),X!=Y.', "r.dl")
    assert str(rule) == 'a(X, Y) :- b(X, Y), c(Y, "d e"), X != Y.'
    assert rule.describe() == 'r.dl:1: a(X, Y) :- b(X, Y), c(Y, "d e"), X != Y.'
    built = Rule(Atom("a", X, Y), (Atom("b", X, Y),))
    assert built.describe() == "a(X, Y) :- b(X, Y)."


def test_source_line_and_preamble_do_not_take_part_in_equality() -> None:
    first = parse_rules("% one\na(X, Y) :- b(X, Y).", "one.dl")
    second = parse_rules("\n\n\na(X, Y) :- b(X, Y).", "two.dl")
    assert first == second
    assert first[0].line == 2 and second[0].line == 4


def test_format_rules_keeps_comments_so_a_file_reads_back_the_same() -> None:
    text = "% header\n\n% R0\na(X, Y) :- b(Y, X).\n% R1\nc(X, Y) :- a(X, Z), a(Z, Y), X != Y.\n"
    rules = parse_rules(text)
    assert format_rules(rules) == text
    assert parse_rules(format_rules(rules)) == rules


# ----- round trip on random rules

_relation = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
_variable = st.from_regex(r"[A-Z_][A-Za-z0-9_]{0,3}", fullmatch=True).map(Var)
_constant = st.text(
    st.characters(codec="utf-8", exclude_characters='"\n', exclude_categories=("Cs",)),
    max_size=8,
).map(Const)
_term = st.one_of(_variable, _constant)


@st.composite
def _rules(draw: st.DrawFn) -> Rule:
    body = tuple(
        Atom(draw(_relation), draw(_term), draw(_term)) for _ in range(draw(st.integers(1, 4)))
    )
    bound = sorted({t.name for a in body for t in (a.subject, a.object) if isinstance(t, Var)})
    usable = st.one_of(st.sampled_from([Var(v) for v in bound]), _constant) if bound else _constant
    head = Atom(draw(_relation), draw(usable), draw(usable))
    inequalities = tuple(
        Inequality(draw(usable), draw(usable)) for _ in range(draw(st.integers(0, 2)))
    )
    return Rule(head, body, inequalities)


@settings(max_examples=100, deadline=None)
@given(st.lists(_rules(), max_size=5))
def test_parse_of_format_is_identity(rules: list[Rule]) -> None:
    assert parse_rules(format_rules(rules)) == tuple(rules)


# ----- errors, word for word


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "a(X, Y) b(X, Y).\n",
            "r.dl:1:9: expected ':-' after the head 'a(X, Y)', found 'b'",
            id="missing-if",
        ),
        pytest.param(
            "a(X, Y) :- b(X, Y)\nc(X, Y) :- b(X, Y).\n",
            "r.dl:2:1: expected ',' or '.' after a body literal, found 'c'",
            id="missing-dot",
        ),
        pytest.param(
            "% last rule\na(X, Y) :- b(X, Y)",
            "r.dl:2:19: expected ',' or '.' after a body literal, found end of file",
            id="missing-dot-at-end",
        ),
        pytest.param(
            'a(X, Y) :- b(X, "foo).\n',
            "r.dl:1:17: unterminated string; close it with '\"'",
            id="unterminated-string",
        ),
        pytest.param(
            'a(X, Y) :- b(X, "fo\no").\n',
            "r.dl:1:17: unterminated string; close it with '\"'",
            id="string-across-lines",
        ),
        pytest.param(
            "a(X, Y) :- b(X, Y); c(X, Y).\n",
            "r.dl:1:19: unexpected character ';'",
            id="unexpected-character",
        ),
        pytest.param(
            "% c\na(X, Y) :- b(X, Y, Z).\n",
            "r.dl:2:21: 'b' has 3 argument(s); relations are binary: b(Subject, Object)",
            id="arity-3",
        ),
        pytest.param(
            "a(X) :- b(X, Y).\n",
            "r.dl:1:1: 'a' has 1 argument(s); relations are binary: a(Subject, Object)",
            id="arity-1",
        ),
        pytest.param(
            "a(X, Y) :- b(X, bob).\n",
            "r.dl:1:17: 'bob' is neither a variable nor a constant; variables start with an "
            'upper-case letter, constants are double-quoted: "bob"',
            id="lowercase-constant",
        ),
        pytest.param(
            "a(X, Y) :- b(X, Y).\n\n  a(X, Z) :- b(X, Y).\n",
            "r.dl:3:3: variable Z in the head of 'a' does not occur in the body; every head "
            "variable must be bound by a body atom",
            id="unbound-head-variable",
        ),
        pytest.param(
            "a(X, Y) :- b(X, Y), X != W.\n",
            "r.dl:1:1: variable W in 'X != W' does not occur in a body atom of the rule for "
            "'a'; bind it with an atom",
            id="unbound-inequality-variable",
        ),
        pytest.param(
            "a(X, Y).\n",
            "r.dl:1:1: 'a(X, Y)' has no body; rules files hold rules only, put facts in "
            "facts.jsonl",
            id="no-body",
        ),
        pytest.param(
            "a(X, Y) :- X != Y.\n",
            "r.dl:1:1: rule for 'a(X, Y)' has no body atom",
            id="only-an-inequality",
        ),
        pytest.param(
            "a(X, Y) :- .\n",
            "r.dl:1:12: expected an atom or an inequality, found '.'",
            id="empty-body",
        ),
        pytest.param(
            "a(X, Y) :- b(X, Y), X.\n",
            "r.dl:1:22: expected '!=' after 'X' (the only built-in test is X != Y), found '.'",
            id="bare-variable",
        ),
    ],
)
def test_syntax_errors_name_file_line_column(text: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_rules(text, "r.dl")
    assert str(caught.value) == message


def test_source_error_is_a_user_error_with_its_position() -> None:
    with pytest.raises(UserError) as caught:
        parse_rules("a(X, Y) :- b(X, Y).\nc(X) :- b(X, Y).\n", "r.dl")
    assert isinstance(caught.value, SourceError)
    assert (caught.value.path, caught.value.line, caught.value.column) == ("r.dl", 2, 1)


# ----- unproducible body relations


def test_warning_for_a_body_relation_nothing_produces() -> None:
    rules = parse_rules(
        "aunt(X, Z) :- sister(X, Y), mother(Y, Z).\nsister(X, Y) :- sistr(Y, X).\n", "w.dl"
    )
    world = World((FactRecord(Fact("Ann", "mother", "Bob")),), rules)
    assert world.warnings() == [
        "rule w.dl:2: sister(X, Y) :- sistr(Y, X).: relation 'sistr' is in the body but no "
        "fact and no rule head produces it (a typo?); the rule never fires"
    ]


def test_no_warning_when_facts_or_heads_produce_every_body_relation() -> None:
    rules = parse_rules("aunt(X, Z) :- sister(X, Y), mother(Y, Z).\nsister(X, Y) :- s(X, Y).\n")
    facts = (FactRecord(Fact("Ann", "mother", "Bob")), FactRecord(Fact("Cy", "s", "Ann")))
    assert World(facts, rules).warnings() == []


def test_a_relation_used_twice_in_one_body_is_reported_once() -> None:
    rules = parse_rules("a(X, Z) :- typo(X, Y), typo(Y, Z), b(X, Z).\n")
    assert unproducible_relations(rules, {"b"}) == [(rules[0], "typo")]
