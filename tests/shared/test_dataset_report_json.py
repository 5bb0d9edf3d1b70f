"""dataset_report.json names the LTX version of the job's base beside what preprocessing did with each file."""

from __future__ import annotations

from shared.dataset_report import DatasetReport, FileOutcome, FileReport


def test_the_report_json_names_the_ltx_version():
    files = [FileReport("b.txt", FileOutcome.IGNORED, "IGNORED_FILE"), FileReport("a.mp4", FileOutcome.SKIPPED)]
    report = DatasetReport.of(files, ltx_version="2.5")
    assert [f.path for f in report.files] == ["a.mp4", "b.txt"]
    data = report.to_json_dict()
    assert data["ltx_version"] == "2.5" and (data["files_skipped"], data["files_ignored"]) == (1, 1)
    assert DatasetReport.of(files).to_json_dict()["ltx_version"] == ""  # no job's base known
