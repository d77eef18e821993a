from datetime import date, timedelta

import pytest

from duely.receivables.aging import BUCKET_NAMES, bucket_of, days_overdue, due_date_range

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("overdue", "bucket"),
    [
        (-10, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (400, "90+"),
    ],
)
def test_bucket_boundaries(overdue, bucket):
    due = TODAY - timedelta(days=overdue)
    assert bucket_of(due, TODAY) == bucket
    earliest, latest = due_date_range(bucket, TODAY)
    assert (earliest is None or due >= earliest) and (latest is None or due <= latest)
    assert days_overdue(due, TODAY) == max(overdue, 0)


def test_ranges_do_not_overlap():
    for day in range(-5, 200):
        due = TODAY - timedelta(days=day)
        containing = [
            name
            for name in BUCKET_NAMES
            if (lambda r: (r[0] is None or due >= r[0]) and (r[1] is None or due <= r[1]))(
                due_date_range(name, TODAY)
            )
        ]
        assert containing == [bucket_of(due, TODAY)]


def test_unknown_bucket_is_named_in_the_error():
    with pytest.raises(ValueError, match="unknown bucket 'soon'"):
        due_date_range("soon", TODAY)
