"""JUnit XML for CI systems: one test case per gate, plus the verdict and run completeness.

A failed gate is a <failure>; an inconclusive one is a <failure type="inconclusive"> (it blocks
shipping just as the exit code does); a skipped gate is <skipped>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.decision.gates import FAIL, INCONCLUSIVE, SKIPPED, GateResult


def junit_xml(suite: str, run_id: str, results: list[GateResult], verdict: str,
              verdict_reasons: list[str], verdict_ok: bool,
              partial: str | None = None) -> str:
    name = f"harness.{suite}"
    root = ET.Element("testsuites", name=name)
    cases: list[ET.Element] = []

    def case(title: str, classname: str) -> ET.Element:
        element = ET.Element("testcase", name=title, classname=classname, time="0")
        cases.append(element)
        return element

    for r in results:
        element = case(f"gate {r.index}: {r.title}", f"{name}.gates")
        if r.status == FAIL:
            ET.SubElement(element, "failure", message=r.reason, type="fail").text = "\n".join(
                c.message for c in r.checks)
        elif r.status == INCONCLUSIVE:
            ET.SubElement(element, "failure", message=r.reason, type="inconclusive").text = (
                "\n".join(c.message for c in r.checks))
        elif r.status == SKIPPED:
            ET.SubElement(element, "skipped", message=r.reason)
        else:
            ET.SubElement(element, "system-out").text = "\n".join(c.message for c in r.checks)
    complete = case("run is complete", f"{name}.run")
    if partial:
        ET.SubElement(complete, "failure", message=partial, type="partial")
    overall = case(f"verdict: {verdict}", f"{name}.verdict")
    if not verdict_ok:
        ET.SubElement(overall, "failure", message="; ".join(verdict_reasons[:3]),
                      type=verdict.lower().replace(" ", "_")).text = "\n".join(verdict_reasons)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite_el = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)),
                             failures=str(failures), errors="0", skipped=str(skipped),
                             id=run_id)
    suite_el.extend(cases)
    root.set("tests", str(len(cases)))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
