"""Collecting an LMS zip (grading/classgrade/collect.py) and student ids (ids.py): hostile archives.

Every test builds its own course (exercises/tiny/tiny.ipynb) and zip under tmp_path; no nbgrader runs.
Each entry of a zip must be collected or reported by name, and nothing may be written outside
grading/submitted/.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grading"))

from classgrade.collect import Collected, collect_zip  # noqa: E402
from classgrade.course import Course  # noqa: E402
from classgrade.ids import id_problem, student_id  # noqa: E402

NOW = (2024, 5, 6, 7, 8, 10)  # a zip stores seconds in steps of 2: an even second survives


def notebook(text: str) -> bytes:
    """A small notebook whose one cell says `text`, so a test can tell which file was kept."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text, id="cell")])
    return nbformat.writes(nb).encode()


@pytest.fixture
def course(tmp_path) -> Course:
    course = Course(tmp_path / "course")
    (course.root / "exercises" / "tiny").mkdir(parents=True)
    (course.root / "exercises" / "tiny" / "tiny.ipynb").write_bytes(notebook("release"))
    return course


def make_zip(path: Path, entries: dict[str, bytes | tuple], **options) -> Path:
    """entries: name -> bytes, or (bytes, date_time) for an entry with that timestamp."""
    with zipfile.ZipFile(path, "w", **options) as zf:
        for name, data in entries.items():
            data, when = data if isinstance(data, tuple) else (data, NOW)
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def collect(course: Course, tmp_path: Path, entries: dict, **caps) -> Collected:
    return collect_zip("tiny", make_zip(tmp_path / "lms.zip", entries), course, progress=False, **caps)


def submitted(course: Course, student: str, name: str = "tiny.ipynb") -> Path:
    return course.grading / "submitted" / student / "tiny" / name


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# ---- where each entry goes ---------------------------------------------------------------------------------------

def test_canvas_moodle_and_folder_names_collect_with_the_release_name(course, tmp_path):
    result = collect(course, tmp_path, {
        "jdoe_12345_678_tiny-1.ipynb": notebook("jdoe"),  # Canvas renames resubmissions
        "asmith_late_222_333_tiny.ipynb": notebook("asmith"),
        "bkim/tiny.ipynb": notebook("bkim"),
        "Jane Doe_12345_assignsubmission_file_/my tiny.ipynb": notebook("Jane Doe"),  # Moodle
    })
    assert result.students == {s: ["tiny.ipynb"] for s in ["Jane_Doe", "asmith", "bkim", "jdoe"]}
    assert result.problems == [] and result.not_collected == 0
    assert result.text() == "collected 4 students from {}; 0 entries not collected".format(tmp_path / "lms.zip")
    for student, text in [("jdoe", "jdoe"), ("asmith", "asmith"), ("bkim", "bkim"), ("Jane_Doe", "Jane Doe")]:
        assert submitted(course, student).read_bytes() == notebook(text)
    assert submitted(course, "jdoe", "timestamp.txt").read_text() == "2024-05-06 07:08:10.000000 UTC"


def test_spaces_non_ascii_and_backslashes_are_collected_not_dropped(course, tmp_path):
    result = collect(course, tmp_path, {
        "José García/tiny.ipynb": notebook("José"),
        "名前_1_2_tiny.ipynb": notebook("名前"),
        "dave smith_1_2_tiny.ipynb": notebook("dave"),
        "carol\\work\\tiny.ipynb": notebook("carol"),  # a zip made on Windows
    })
    assert sorted(result.students) == sorted(["carol", "dave_smith", "José_García", "名前"])
    assert result.not_collected == 0
    assert submitted(course, "José_García").read_bytes() == notebook("José")
    assert submitted(course, "carol").read_bytes() == notebook("carol")


def test_students_are_the_top_folder_so_alice_and_bob_stay_two(course, tmp_path):
    result = collect(course, tmp_path, {"alice/work/tiny.ipynb": notebook("alice"),
                                        "bob/work/tiny.ipynb": notebook("bob")})
    assert sorted(result.students) == ["alice", "bob"]
    assert submitted(course, "alice").read_bytes() == notebook("alice")
    assert submitted(course, "bob").read_bytes() == notebook("bob")
    assert not (course.grading / "submitted" / "work").exists()


def test_of_three_notebooks_the_newest_is_kept_and_the_others_reported(course, tmp_path):
    result = collect(course, tmp_path, {
        "jdoe_1_2_tiny.ipynb": (notebook("first"), (2024, 3, 1, 9, 0, 0)),
        "jdoe_1_3_tiny-2.ipynb": (notebook("newest"), (2024, 3, 3, 9, 0, 0)),
        "jdoe/tiny.ipynb": (notebook("second"), (2024, 3, 2, 9, 0, 0)),
    })
    assert result.students == {"jdoe": ["tiny.ipynb"]}
    assert submitted(course, "jdoe").read_bytes() == notebook("newest")
    assert submitted(course, "jdoe", "timestamp.txt").read_text() == "2024-03-03 09:00:00.000000 UTC"
    assert result.not_collected == 2
    assert [p.split(": ")[0] for p in result.problems] == ["'jdoe/tiny.ipynb'", "'jdoe_1_2_tiny.ipynb'"]
    assert all("older than 'jdoe_1_3_tiny-2.ipynb'" in p for p in result.problems)


@pytest.mark.parametrize("order", [["jdoe/a.ipynb", "jdoe/b.ipynb"], ["jdoe/b.ipynb", "jdoe/a.ipynb"]])
def test_equal_timestamps_are_broken_by_name_whatever_the_zip_order(course, tmp_path, order):
    collect(course, tmp_path, {name: notebook(name) for name in order})
    assert submitted(course, "jdoe").read_bytes() == notebook("jdoe/b.ipynb")


def test_with_several_release_notebooks_a_name_must_end_with_one(course, tmp_path):
    (course.root / "exercises" / "tiny" / "data.ipynb").write_bytes(notebook("release"))
    result = collect(course, tmp_path, {"jdoe_1_2_data.ipynb": notebook("d"), "jdoe_1_2_tiny.ipynb": notebook("t"),
                                        "jdoe_1_2_tiny-1.ipynb": notebook("?")})
    assert result.students == {"jdoe": ["data.ipynb", "tiny.ipynb"]}
    assert result.problems == ["'jdoe_1_2_tiny-1.ipynb': matches no release notebook (data.ipynb, tiny.ipynb)"]


def test_other_files_are_reported_and_only_mac_junk_and_folders_pass_silently(course, tmp_path):
    result = collect(course, tmp_path, {
        "jdoe/": b"", "jdoe/tiny.ipynb": notebook("jdoe"),
        "jdoe/notes.txt": b"notes", "jdoe/.ipynb_checkpoints/tiny-checkpoint.ipynb": notebook("old"),
        "loose.ipynb": notebook("whose?"),
        "__MACOSX/jdoe/._tiny.ipynb": b"resource fork", "jdoe/.DS_Store": b"finder",
    })
    assert result.students == {"jdoe": ["tiny.ipynb"]}
    assert result.not_collected == 3
    assert result.problems == ["'jdoe/notes.txt': not a notebook (.ipynb)",
                               "'jdoe/.ipynb_checkpoints/tiny-checkpoint.ipynb': a Jupyter checkpoint, "
                               "not a submission",
                               "'loose.ipynb': neither in a student's folder nor named <student>_..._<notebook>.ipynb"]
    assert files_under(course.grading) == {submitted(course, "jdoe"), submitted(course, "jdoe", "timestamp.txt")}


# ---- hostile names ---------------------------------------------------------------------------------------------

def test_absolute_and_dotdot_entries_are_refused_and_nothing_lands_outside(course, tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # relative writes would land here
    hostile = ["/abs_1_x.ipynb", "/x/tiny.ipynb", "../evil_1_tiny.ipynb", "jdoe/../../up_1_tiny.ipynb",
               "..\\win/tiny.ipynb", "C:\\Users\\x\\tiny.ipynb", "c:drive_1_tiny.ipynb"]
    assert not Path("/x").exists() and not Path("/abs_1_x.ipynb").exists()
    before = files_under(tmp_path)
    entries = {**{name: notebook("evil") for name in hostile}, "ok/tiny.ipynb": notebook("ok")}
    result = collect(course, tmp_path, entries)
    assert result.students == {"ok": ["tiny.ipynb"]}
    assert result.not_collected == len(hostile)
    reasons = dict(p.split(": ", 1) for p in result.problems)
    assert reasons == {**{repr(name): "an absolute path" for name in hostile if name[0] in "/Cc"},
                       **{repr(name): "a path with '..'" for name in hostile if ".." in name}}
    assert not Path("/x").exists() and not Path("/abs_1_x.ipynb").exists()
    new = files_under(tmp_path) - before - {tmp_path / "lms.zip"}
    assert new == {submitted(course, "ok"), submitted(course, "ok", "timestamp.txt")}


def test_refused_ids_are_reported_with_their_reason_and_safely(course, tmp_path):
    result = collect(course, tmp_path, {
        "new\nline/tiny.ipynb": notebook("x"), "br[ack]ets/tiny.ipynb": notebook("x"),
        "star*_1_2_tiny.ipynb": notebook("x"), ".classgrade-state.json/tiny.ipynb": notebook("x"),
        "\x1b]0;pwned\x07esc/tiny.ipynb": notebook("x"), "fine/tiny.ipynb": notebook("fine"),
    })
    assert result.students == {"fine": ["tiny.ipynb"]}
    assert result.not_collected == 5
    text = result.text()
    for reason in ["'\\n' (U+000A) is a control character", "'[' (U+005B) is a glob character",
                   "'*' (U+002A) is a glob character", "starting with '.'", "'\\x1b' (U+001B) is a control character"]:
        assert sum(reason in p for p in result.problems) == 1, reason
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == 1 + len(result.problems)  # a name's newline never breaks a line
    assert sorted(p.name for p in (course.grading / "submitted").iterdir()) == ["fine"]


def test_names_that_become_the_same_id_are_reported_not_merged(course, tmp_path):
    result = collect(course, tmp_path, {"Jane Doe/tiny.ipynb": notebook("one"),
                                        "Jane  Doe/tiny.ipynb": notebook("two"), "bkim/tiny.ipynb": notebook("b")})
    assert result.students == {"bkim": ["tiny.ipynb"]}
    assert result.not_collected == 2
    assert all("the names 'Jane  Doe' and 'Jane Doe' both become student id 'Jane_Doe'" in p
               for p in result.problems)
    assert not (course.grading / "submitted" / "Jane_Doe").exists()


# ---- the filesystem ----------------------------------------------------------------------------------------------

def test_symlinks_in_submitted_are_never_followed(course, tmp_path):
    outside = tmp_path / "outside"
    (outside / "tiny").mkdir(parents=True)
    base = course.grading / "submitted"
    (base / "eve").mkdir(parents=True)
    (base / "mallory").symlink_to(outside)  # grading/submitted/mallory -> outside
    (base / "eve" / "tiny").symlink_to(outside / "tiny")  # grading/submitted/eve/tiny -> outside/tiny
    result = collect(course, tmp_path, {"mallory/tiny.ipynb": notebook("m"), "eve/tiny.ipynb": notebook("e"),
                                        "ok/tiny.ipynb": notebook("ok")})
    assert result.students == {"ok": ["tiny.ipynb"]}
    assert result.not_collected == 2
    assert [p.split(": ")[0] for p in result.problems] == ["'eve'", "'mallory'"]
    assert all("is a symbolic link or not a folder" in p for p in result.problems)
    assert files_under(outside) == set()
    assert (base / "eve" / "tiny").is_symlink() and (base / "mallory").is_symlink()


def test_a_symlinked_grading_submitted_is_a_value_error(course, tmp_path):
    (tmp_path / "outside").mkdir()
    course.grading.mkdir()
    (course.grading / "submitted").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="submitted': .*symbolic link or not a folder"):
        collect(course, tmp_path, {"ok/tiny.ipynb": notebook("ok")})
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_new_collection_replaces_the_students_folder_for_this_assignment_only(course, tmp_path):
    collect(course, tmp_path, {"jdoe/tiny.ipynb": (notebook("v1"), (2024, 1, 1, 0, 0, 0))})
    (submitted(course, "jdoe").parent / "stray.txt").write_text("from the first collection")
    (course.grading / "submitted" / "jdoe" / "other").mkdir()
    collect(course, tmp_path, {"jdoe/tiny.ipynb": (notebook("v2"), (2024, 1, 2, 0, 0, 0))})
    assert sorted(p.name for p in submitted(course, "jdoe").parent.iterdir()) == ["timestamp.txt", "tiny.ipynb"]
    assert submitted(course, "jdoe").read_bytes() == notebook("v2")
    assert sorted(p.name for p in (course.grading / "submitted" / "jdoe").iterdir()) == ["other", "tiny"]


# ---- sizes and broken archives ------------------------------------------------------------------------------------

def test_a_zip_bomb_is_stopped_at_the_file_cap(course, tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomber/tiny.ipynb", "w") as out:
            zero = bytes(1 << 20)
            for _ in range(200):  # 200 MiB of zeros, about 200 KiB compressed
                out.write(zero)
        zf.writestr("ok/tiny.ipynb", notebook("ok"))
    assert bomb.stat().st_size < 1 << 20
    inflated = []  # bytes each read of an entry returned
    read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: inflated.append(len(got := read(self, n))) or got)
    result = collect_zip("tiny", bomb, course, progress=False)  # the default caps: 50 MiB a notebook
    assert sum(inflated) < 52 << 20  # it stopped reading at the cap (plus one chunk)
    assert result.students == {"ok": ["tiny.ipynb"]}
    assert result.problems == ["'bomber/tiny.ipynb': more than 52,428,800 bytes uncompressed (max_file_bytes)"]
    assert not (course.grading / "submitted" / "bomber").exists()
    assert sum(p.stat().st_size for p in files_under(course.grading)) < 1 << 20


def test_the_total_cap_stops_collecting_and_keeps_previous_folders(course, tmp_path):
    collect(course, tmp_path, {"s3/tiny.ipynb": notebook("previous")})
    entries = {f"s{i}/tiny.ipynb": notebook("x" * 4000) for i in range(5)}  # about 4.3 KB each
    result = collect(course, tmp_path, entries, max_total_bytes=12_000)
    assert sorted(result.students) == ["s0", "s1"]
    assert result.not_collected == 3
    assert result.problems == ["'s2': stopped: the notebooks total more than 12,000 bytes (max_total_bytes); "
                               "3 entries of 3 students, from this one on, not collected"]
    assert submitted(course, "s3").read_bytes() == notebook("previous")
    assert not (course.grading / "submitted" / "s2").exists()


def test_too_many_entries_and_archives_that_are_not_zips_are_one_line_value_errors(course, tmp_path):
    not_zip = tmp_path / "grades.zip"
    not_zip.write_text("this is not a zip")
    for archive in [not_zip, tmp_path / "missing.zip"]:
        with pytest.raises(ValueError, match=f"^'{archive}' is not a readable zip archive") as error:
            collect_zip("tiny", archive, course, progress=False)
        assert "\n" not in str(error.value)
    many = make_zip(tmp_path / "many.zip", {f"s{i}/tiny.ipynb": b"{}" for i in range(11)})
    with pytest.raises(ValueError, match="11 entries, more than 10 "):
        collect_zip("tiny", many, course, progress=False, max_entries=10)
    assert not course.grading.exists()


# ---- ids -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("jdoe", "jdoe"), ("  Jane \u3000  Doe ", "Jane_Doe"), ("Jane\u00a0Doe", "Jane_Doe"), ("José", "José"),
    ("Jose\u0301", "José"), ("名前", "名前"), ("a.b-c_d@e+f", "a.b-c_d@e+f"), ("x" * 100, "x" * 100),
])
def test_student_id_maps_lms_names(raw, expected):
    assert student_id(raw) == expected
    assert id_problem(expected) is None


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"), ("   ", "empty"), (".", "starting with '.'"), ("..", "starting with '.'"),
    (".classgrade-state.json", "reserved for the grader's files"), ("a\nb", "'\\n' (U+000A) is a control character"),
    ("jdoe\n", "control character"), ("Jane\tDoe", "'\\t' (U+0009) is a control character"),
    ("a/b", "path separator"), ("a\\b", "path separator"),
    ("a*b", "glob character"), ("a?", "glob character"), ("a[1]", "'[' (U+005B) is a glob character"),
    ("a%b", "'%' (U+0025) is not a letter, a digit or one of ._-@+"), ("a\u202eb", "U+202E"),
    ("x" * 101, "longer than 100 characters"),
])
def test_student_id_refuses_unsafe_names_with_a_one_line_reason(raw, reason):
    with pytest.raises(ValueError) as error:
        student_id(raw)
    assert reason in str(error.value) and "\n" not in str(error.value)
    assert id_problem(raw) == str(error.value)


def test_id_problem_flags_folder_names_that_are_not_ids_as_written():
    assert "Jane_Doe" in id_problem("Jane Doe")
    assert id_problem("Jose\u0301")  # NFD, as a Mac may write it
    assert id_problem(".classgrade-state.json").startswith("names starting with '.'")
