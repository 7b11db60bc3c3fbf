"""MWAA 3.3.1's package set (constraints/mwaa-3.3.1.txt), MWAA's newest environment: the
package installs, and the DAG integrity tests and the end-to-end story pass on it."""

from __future__ import annotations

import pytest
from package_set import assert_suites_pass

pytestmark = [pytest.mark.stack, pytest.mark.slow(minutes=12), pytest.mark.timeout(3600)]


def test_the_suites_pass_on_mwaa_3_3_1(test_output):
    assert_suites_pass("3.3.1", "(3, 12) 3.3.1 9.34.0 7.0.1", test_output)
