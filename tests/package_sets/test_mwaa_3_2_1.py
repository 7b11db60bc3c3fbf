"""MWAA 3.2.1's package set (constraints/mwaa-3.2.1.txt), MWAA's previous environment and the
floor of the supported range: the package installs, and the DAG integrity tests and the
end-to-end story pass on it."""

from __future__ import annotations

import pytest
from package_set import assert_suites_pass

pytestmark = [pytest.mark.stack, pytest.mark.slow(minutes=12), pytest.mark.timeout(3600)]


def test_the_suites_pass_on_mwaa_3_2_1(test_output):
    assert_suites_pass("3.2.1", "(3, 12) 3.2.1 9.25.0 6.6.3", test_output)
