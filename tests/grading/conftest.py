"""The ``impl`` fixture: the implementation under test, chosen by ``pytest --impl=...`` (see the root conftest).

A grader never imports the exercise functions itself; it calls them through ``impl`` so the same tests grade
the library, the generated stubs, a student's file or a mutant::

    pytestmark = pytest.mark.ex03

    def test_l1_mask_keeps_largest(impl):
        assert impl.l1_mask(np.array([1.0, 3.0]), amount=1).tolist() == [False, True]
"""

import pytest

from minprune import grading


@pytest.fixture(scope="module")
def impl(request):
    """Namespace with the exercise's functions as attributes (``impl.<function>``); exercise from the exNN marker."""
    return grading.impl_for_request(request)
