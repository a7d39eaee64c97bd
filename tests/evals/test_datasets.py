"""Each dataset source, loaded with Hugging Face ``datasets`` and never from the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals import DatasetError
from evals._dataset import load_rows
from evals._spec import DatasetSpec

ROWS = [{"q": f"question {i}", "a": f"answer {i}"} for i in range(6)]


def spec(**values: object) -> DatasetSpec:
    return DatasetSpec.model_validate(values)


def test_csv_jsonl_json_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_list(ROWS)
    table.to_csv(str(tmp_path / "d.csv"), index=False)
    table.to_json(str(tmp_path / "d.jsonl"))
    table.to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    hashes = set()
    for name in ("d.csv", "d.jsonl", "d.json", "d.parquet"):
        loaded = load_rows(spec(path=name), tmp_path)
        assert loaded.rows == ROWS, name
        assert loaded.columns == ("q", "a")
        assert loaded.name == name
        hashes.add(loaded.content_hash)
    assert len(hashes) == 1  # the hash is of the content, not the file


def test_saved_dataset_directory_and_its_splits(tmp_path: Path) -> None:
    import datasets

    splits = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:2])}
    )
    splits.save_to_disk(str(tmp_path / "saved"))
    assert len(load_rows(spec(path="saved"), tmp_path).rows) == 6
    assert load_rows(spec(path="saved", split="test"), tmp_path).rows == ROWS[:2]
    with pytest.raises(DatasetError, match="no split 'dev' \\(splits: train, test\\)"):
        load_rows(spec(path="saved", split="dev"), tmp_path)


def test_a_dataset_in_the_local_hf_cache_by_name(tmp_path: Path, hf_home: Path) -> None:
    """A dataset once downloaded is found in the cache by its Hub name, offline."""
    import datasets

    (tmp_path / "src.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cache = hf_home / "datasets"
    built = datasets.load_dataset(
        "json", data_files=str(tmp_path / "src.jsonl"), cache_dir=str(cache)
    )
    # Where the Hub's `acme/tiny-qa` would have been prepared: <namespace>___<name>/<config>/...
    prepared = Path(built["train"].cache_files[0]["filename"]).parent
    target = cache / "acme___tiny-qa" / "default" / "0.0.0" / prepared.name
    target.parent.mkdir(parents=True)
    shutil.copytree(prepared, target)
    for arrow in target.glob("json-*.arrow"):  # files are named after the dataset
        arrow.rename(target / arrow.name.replace("json-", "tiny-qa-", 1))
    loaded = load_rows(spec(name="acme/tiny-qa", split="train", cache_dir=str(cache)), tmp_path)
    assert loaded.rows == ROWS
    assert loaded.name == "acme/tiny-qa"


def test_a_name_not_in_the_cache_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot load"):
        load_rows(spec(name="acme/not-here", cache_dir=str(tmp_path)), tmp_path)


def test_inline_rows_mapping_limit_and_shuffle(tmp_path: Path) -> None:
    loaded = load_rows(spec(rows=ROWS, columns={"question": "q"}, limit=3), tmp_path)
    assert [r["question"] for r in loaded.rows] == ["question 0", "question 1", "question 2"]
    assert "question" in loaded.columns
    shuffled = load_rows(spec(rows=ROWS, shuffle=7), tmp_path)
    again = load_rows(spec(rows=ROWS, shuffle=7), tmp_path)
    assert shuffled.rows == again.rows and shuffled.rows != ROWS
    assert sorted(r["a"] for r in shuffled.rows) == [r["a"] for r in ROWS]
    assert len(load_rows(spec(rows=ROWS, limit=5), tmp_path, limit=2).rows) == 2


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DatasetError, match="set `format`"):
        load_rows(spec(path="data.txt"), tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_rows(spec(path="nope.csv"), tmp_path)


# Each case: rows (a JSON Lines file or inline rows), and whether orjson reads them without
# ``datasets``. Either way the rows must be exactly what ``datasets`` gives.
PLAIN_CASES = {
    "strings": ([{"q": "a", "a": "b"}, {"q": "c", "a": ""}], True),
    "ints and floats": ([{"n": 1}, {"n": 2.5}, {"n": None}], True),
    "floats that look like ints": ([{"n": 1.0}, {"n": 2}], True),
    "bools": ([{"ok": True}, {"ok": False}, {}], True),
    "missing keys and their order": ([{"b": 1, "a": "x"}, {"a": "y", "c": True}], True),
    "a column of nulls": ([{"a": None}, {"a": None}], True),
    "unicode": ([{"a": "é\u2028\U0001f600"}], True),
    "nested objects": ([{"a": {"x": 1}}, {"a": {"y": 2}}], False),
    "lists": ([{"a": [1, 2]}, {"a": [3.5]}], False),
    "bools and ints": ([{"a": True}, {"a": 1}], False),
    "strings and ints": ([{"a": "1"}, {"a": 2}], False),
    "an int past int64": ([{"a": 2**63}], False),
}


@pytest.mark.parametrize("case", list(PLAIN_CASES))
@pytest.mark.parametrize("source", ["jsonl", "inline"])
def test_plain_rows_are_read_without_datasets_exactly_as_datasets_reads_them(
    tmp_path: Path, case: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    from evals import _dataset

    rows, plain = PLAIN_CASES[case]
    if source == "jsonl":
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
        given = spec(path="d.jsonl")
        try:
            loaded = datasets.load_dataset(
                "json", data_files=str(tmp_path / "d.jsonl"), cache_dir=str(tmp_path / "hf")
            )["train"]
        except Exception:
            loaded = None
    else:
        given = spec(rows=rows)
        try:
            loaded = datasets.Dataset.from_list(rows)
        except Exception:
            loaded = None
    read_plainly = _dataset._plain_rows(given, tmp_path) is not None
    if loaded is None:  # datasets refuses these rows: so must we, not read them some other way
        assert not read_plainly
        return
    assert read_plainly == plain
    calls: list[object] = []
    real = _dataset._load_table
    monkeypatch.setattr(_dataset, "_load_table", lambda *a: calls.append(a) or real(*a))
    got = load_rows(given, tmp_path)
    assert bool(calls) != plain  # datasets was (only) used when the rows are not plain
    assert got.rows == loaded.to_list()
    assert [type(v) for r in got.rows for v in r.values()] == [
        type(v) for r in loaded.to_list() for v in r.values()
    ]
    assert got.columns == tuple(loaded.column_names)
    monkeypatch.setattr(_dataset, "_plain_rows", lambda *a: None)
    assert load_rows(given, tmp_path).content_hash == got.content_hash


def test_a_shuffle_a_split_or_a_bad_line_goes_to_datasets(tmp_path: Path) -> None:
    from evals import _dataset

    (tmp_path / "d.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n')
    (tmp_path / "bad.jsonl").write_text('{"q": "a"}\n{"q": \n')
    assert _dataset._plain_rows(spec(path="d.jsonl"), tmp_path) is not None
    assert _dataset._plain_rows(spec(path="d.jsonl", shuffle=3), tmp_path) is None
    assert _dataset._plain_rows(spec(path="d.jsonl", split="test"), tmp_path) is None
    assert _dataset._plain_rows(spec(path="bad.jsonl"), tmp_path) is None
    assert _dataset._plain_rows(spec(rows=ROWS, split="train"), tmp_path) is None
    with pytest.raises(DatasetError):
        load_rows(spec(path="bad.jsonl"), tmp_path)
    with pytest.raises(DatasetError, match="split"):
        load_rows(spec(path="d.jsonl", split="test"), tmp_path)
