"""JUnit XML: one test suite per file, one failing test case per finding."""

from __future__ import annotations

from collections import defaultdict
from xml.etree import ElementTree as ET

from porter.report.base import LintReport, display_path


def render_junit(report: LintReport) -> str:
    by_file = defaultdict(list)
    for f in report.failures:  # a marked site is acknowledged, not a failing test
        by_file[f.path].append(f)
    # A clean run is one passing test case, so the totals match the suites' in every report.
    failures = report.failures
    total = len(failures) or 1
    root = ET.Element("testsuites", name="porter", tests=str(total), failures=str(len(failures)))
    if not by_file:
        suite = ET.SubElement(root, "testsuite", name="porter", tests="1", failures="0")
        ET.SubElement(suite, "testcase", name="No findings", classname="porter")
    for raw_path, findings in sorted(by_file.items()):
        path = display_path(raw_path)
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(findings)), failures=str(len(findings)))
        for f in findings:
            location = display_path(f.location)
            case = ET.SubElement(suite, "testcase", name=f"{f.rule_id} {location}", classname=path)
            failure = ET.SubElement(case, "failure", message=f.message, type=f.rule_id)
            failure.text = f"{location}: {f.rule_id} {f.message}"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
