from __future__ import annotations

from xml.etree import ElementTree as ET

from dspscope.addons.conformance import Report
from dspscope.wsdsp import build
from tests.addons import support


def report_of(flows):
    report = Report()
    report.add_all(flows, "test.mitm")
    return report.finish()


def test_clean_job():
    report = report_of(support.job_flows(images=2))
    assert not report.failed
    assert (report.exchanges, report.events, len(report.jobs)) == (4, 2, 1)
    job = report.to_json()["jobs"][0]
    assert job["token"] == support.TOKEN and job["outcome"] == "Completed" and job["images"] == 2
    assert report.human()[-1].startswith("ok:")


def test_seeded_violations_are_found_per_job():
    flows = support.job_flows(images=2)
    flows.pop(2)  # the server now reports 2 images but acknowledged 1
    stray = build.job_request("EndPostScanJob", to=support.ENDPOINT,
                              token="00000000-0000-4000-8000-000000000000")
    flows.append(support.flow(stray, build.response(stray)))
    report = report_of(flows)
    assert report.failed
    data = report.to_json()
    job_codes = [(g["code"], g["count"]) for g in data["jobs"][0]["findings"]]
    assert job_codes == [("job.images-mismatch", 2)]  # the final status event and the end state
    outside = {g["code"]: g for g in data["outside_jobs"]}
    assert outside["job.unknown-token"]["count"] == 1
    assert outside["job.unknown-token"]["examples"][0]["operation"] == "EndPostScanJob"
    assert data["counts"]["error"] == 3


def test_jobs_never_ended_are_warnings_once():
    flows = support.job_flows(images=1)[:2]
    report = report_of(flows)
    groups = report.to_json()["jobs"][0]["findings"]
    assert [(g["code"], g["count"]) for g in groups] == [("job.never-ended", 1)]
    assert not report.failed


def test_junit():
    flows = support.job_flows(images=1)
    flows.pop(1)
    root = ET.fromstring(report_of(flows).junit())
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert "job.images-mismatch" in failure.get("message")


def test_examples_are_bounded():
    req = build.create_post_scan_job(to=support.ENDPOINT, user="not-a-sid", psp_id=support.PSP)
    report = report_of([support.flow(req) for _ in range(80)])
    group = next(g for g in report.groups.values() if g.code == "dsp.invalid-sid")
    assert group.count == 80 and len(group.examples) == 50


def test_human_report_cannot_be_steered_by_captured_text():
    req = support.create()
    evil = "\u202egnp.exe\x85" + support.TOKEN
    flows = [support.flow(req, build.response(req, {"JobToken": evil}))]
    lines = report_of(flows).human()
    assert all(c.isprintable() for line in lines for c in line)
