"""``tasktrace eval`` end to end: a tiny labeled dataset written here is replayed
as OTLP through a real server with a real Postgres, and the tasks it extracts
are scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tasktrace.cli.main import build_parser
from tasktrace.evaluation.harness import evaluate

HEADLINE = (
    "conversations",
    "segmentation_f1",
    "status_accuracy",
    "status_balanced_accuracy",
    "progress_attribution",
    "preference_recall",
    "preference_precision",
)


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "tool_calls": [{"id": call_id, "name": name, "arguments": arguments}],
    }


def result(
    call_id: str, name: str, rows: list[dict[str, Any]], *, error: bool = False
) -> dict[str, Any]:
    return {
        "role": "tool",
        "tool_call_id": call_id,
        "name": name,
        "content": json.dumps(rows),
        "error": error,
    }


def say(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": text}


def task(
    first: int, order: int, status: str, progress: list[str], prefs: list[str]
) -> dict[str, Any]:
    return {
        "description": f"task {order}",
        "status": status,
        "progress": progress,
        "preferences": prefs,
        "first_user_turn": first,
        "order": order,
    }


RESTAURANT = {
    "id": "hand-restaurant",
    "source": "hand",
    "session_id": "hand-restaurant",
    "turns": [
        say("user", "I want to find a restaurant in San Jose that serves Italian food."),
        call("call_1", "FindRestaurants", city="San Jose", cuisine="Italian"),
        result(
            "call_1", "FindRestaurants", [{"restaurant_name": "Pasta Place", "city": "San Jose"}]
        ),
        say("assistant", "I found Pasta Place in San Jose."),
        say("user", "That's all I needed, thank you."),
        say("assistant", "Have a great day!"),
    ],
    "expected_tasks": [
        task(0, 1, "success", ["FindRestaurants"], ["city=San Jose", "cuisine=Italian"])
    ],
}

TRANSFER = {
    "id": "hand-transfer",
    "source": "hand",
    "session_id": "hand-transfer",
    "turns": [
        say("user", "Please transfer 200 dollars to Amelia from my checking account."),
        say("assistant", "Please confirm: transfer $200 to Amelia from checking."),
        say("user", "Yes, that's right."),
        call("call_1", "TransferMoney", amount=200, recipient="Amelia", account="checking"),
        result("call_1", "TransferMoney", [{"amount": 200, "recipient": "Amelia"}], error=True),
        say("assistant", "Sorry, the transfer failed. Can I help with anything else?"),
        say("user", "No, thank you."),
        say("assistant", "Goodbye!"),
    ],
    "expected_tasks": [task(0, 1, "failed", ["TransferMoney"], ["recipient=Amelia"])],
}

#: cut while its second request's tool still runs: that request's root span never came
MOVIE_CUT = {
    "id": "hand-movie-cut",
    "source": "hand",
    "session_id": "hand-movie-cut",
    "complete": False,
    "turns": [
        say("user", "Can you find me a movie to watch in Berkeley?"),
        call("call_1", "FindMovies", location="Berkeley"),
        result("call_1", "FindMovies", [{"movie_name": "Dumbo", "location": "Berkeley"}]),
        say("assistant", "Dumbo is playing in Berkeley."),
        say("user", "Great, buy 2 tickets for Dumbo tonight."),
        call("call_2", "BuyMovieTickets", movie_name="Dumbo", number_of_tickets=2),
    ],
    "expected_tasks": [
        task(0, 1, "success", ["FindMovies"], ["location=Berkeley"]),
        task(4, 2, "running", ["BuyMovieTickets"], ["number_of_tickets=2"]),
    ],
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "hand.jsonl"
    lines = [json.dumps(c) for c in (RESTAURANT, TRANSFER, MOVIE_CUT)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("dialect", ["genai", "openinference", "genai-events"])
async def test_hand_labeled_conversations_score_perfectly_through_the_real_server(
    pg_dsn: str, dataset: Path, dialect: str
) -> None:
    seen: list[tuple[int, int]] = []
    evaluation = await evaluate(
        dataset,
        dialect=dialect,
        dsn=pg_dsn,
        progress=lambda done, total: seen.append((done, total)),
    )
    result = evaluation.to_dict()
    assert all(0.0 <= result[key] <= 1.0 for key in HEADLINE[1:])
    assert result["conversations"] == 3 and result["sessions_missing"] == []
    assert result["segmentation_f1"] == 1.0
    assert result["progress_attribution"] == 1.0
    assert result["confusion"] == {
        "success": {"success": 2},
        "failed": {"failed": 1},
        "running": {"running": 1},
    }
    assert result["preference_recall"] > 0.5
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    by_id = {c["id"]: c for c in result["per_conversation"]}
    assert by_id["hand-movie-cut"]["session_id"] == "hand-movie-cut"


async def test_a_conversation_that_exported_nothing_scores_as_missed(
    pg_dsn: str, tmp_path: Path
) -> None:
    unanswered = {**RESTAURANT, "id": "unanswered", "session_id": "unanswered", "complete": False}
    unanswered["turns"] = RESTAURANT["turns"][:1]  # the first model call is still in flight
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps(unanswered) + "\n", encoding="utf-8")
    result = (await evaluate(path, dsn=pg_dsn)).to_dict()
    assert result["sessions_missing"] == ["unanswered"]
    assert result["confusion"] == {"success": {"missing": 1}}
    assert result["segmentation_recall"] == 0.0


def test_the_cli_prints_the_table_and_writes_the_json(
    pg_dsn: str, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results" / "eval.json"
    args = build_parser().parse_args(
        ["eval", str(dataset), "--json", str(out), "--dsn", pg_dsn, "--limit", "2"]
    )
    assert args.func(args) == 0
    written = json.loads(out.read_text())
    assert set(HEADLINE) <= set(written)
    assert written["conversations"] == 2 and written["dialect"] == "genai"
    printed = capsys.readouterr()
    assert "segmentation F1" in printed.out and str(out) in printed.out
    assert "2/2 conversations" in printed.err


async def test_the_run_leaves_no_schema_behind(pg_dsn: str, dataset: Path) -> None:
    async def eval_schemas() -> set[str]:
        async with await psycopg.AsyncConnection.connect(pg_dsn) as conn:
            cur = await conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'eval\\_%'"
            )
            return {row[0] for row in await cur.fetchall()}

    before = await eval_schemas()
    await evaluate(dataset, dsn=pg_dsn, limit=1)
    assert await eval_schemas() == before
