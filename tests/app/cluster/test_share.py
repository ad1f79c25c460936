"""The fair share and the choice of what to hand over (app/cluster/share.py): pure."""

from __future__ import annotations

from app.cluster.share import fair_share, to_give_up


def test_the_share_is_the_instances_over_the_processes_rounded_up() -> None:
    assert fair_share(40, [None] * 4) == 10
    assert fair_share(40, [None] * 3) == 14
    assert fair_share(1, [None, None]) == 1
    assert fair_share(0, [None]) == 0


def test_a_capped_process_leaves_its_remainder_to_the_others() -> None:
    # 10 instances, one process capped at 2: the other two hold 4 each.
    assert fair_share(10, [2, None, None]) == 4
    assert fair_share(10, [2, None, None], own_cap=2) == 2


def test_a_process_never_holds_more_than_its_own_cap() -> None:
    assert fair_share(40, [None], own_cap=5) == 5


def test_when_every_process_is_capped_below_the_instances_the_rest_stay_unowned() -> None:
    # Caps 2 and 3 hold 5 of 8: the share is the largest cap, each holds its own cap.
    assert fair_share(8, [2, 3]) == 3
    assert fair_share(8, [2, 3], own_cap=2) == 2


def test_the_excess_handed_over_is_the_highest_numbers() -> None:
    assert to_give_up({1, 2, 3, 4}, 2) == [4, 3]
    assert to_give_up({5, 1}, 2) == []
    assert to_give_up({3, 9, 7}, 0) == [9, 7, 3]
