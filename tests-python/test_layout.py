"""The package's shape: each target declares exactly the modules its sources import."""
import glob
import json
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules of the toolchain, not of a package.
TOOLCHAIN = {"Foundation", "FoundationEssentials", "Testing", "Synchronization", "Dispatch", "Glibc", "XCTest"}


def test_every_target_declares_what_it_imports_and_nothing_else():
    description = json.loads(subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    problems = []
    for target in description["targets"]:
        imports = set()
        for path in glob.glob(os.path.join(ROOT, target["path"], "**", "*.swift"), recursive=True):
            with open(path, encoding="utf-8") as f:
                imports |= set(re.findall(r"^(?:@testable )?import (\w+)", f.read(), re.M))
        imports -= TOOLCHAIN
        declared = set(target.get("target_dependencies", [])) | set(target.get("product_dependencies", []))
        if imports != declared:
            problems.append(f"{target['name']}: imported but not declared {sorted(imports - declared)}, declared but not imported {sorted(declared - imports)}")
    assert not problems, "\n".join(problems)
