"""tasks/ranks.py: fractional ranks keep board order with one written row per move."""

import random

import pytest

from tasks import ranks
from tasks.models import Task
from tests import factories


def valid(rank: str) -> bool:
    return ranks.is_valid(rank) and not rank.endswith("0")


def test_first_rank_of_an_empty_column():
    assert ranks.after(None) == ranks.before(None) == ranks.between(None, None) == "i"


@pytest.mark.parametrize("rank", ["i", "1", "z", "zz", "zzzzzz", "zzzzzzzzz", "0001", "00000001", "hzzzzz",
                                  "i0000001i", "a5", "y0000z", "000001", "000001i", "000002"])
def test_after_and_before(rank):
    above, below = ranks.before(rank), ranks.after(rank)
    assert above < rank < below
    assert valid(above) and valid(below)


def test_after_steps_the_first_six_digits():
    # The common case, appending, keeps ranks short.
    assert ranks.after("i") == "i00001"
    assert ranks.after("i00001") == "i00002"
    assert ranks.after("hzzzzz") == "i"
    assert ranks.before("i") == "hzzzzz"
    # Past the end of the six-digit space it falls back to between().
    assert ranks.after("zzzzzz") == "zzzzzzi"


def test_after_is_above_every_extension_of_its_argument():
    rank = "i00001"
    assert ranks.after(rank) > rank + "zzzzzzzz"
    assert ranks.before(rank) < rank + "00000001"


@pytest.mark.parametrize(("low", "high"), [
    ("a", "b"), ("a", "a1"), ("a", "a01"), ("a", "az"), ("az", "b"), ("y", "z"), ("0001", "0002"),
    ("i", "i00001"), (None, "1"), (None, "0001"), ("z", None), ("zzz", None), ("1", "z"),
    ("i0000001i", "i0000002i"), ("i0000001i", "i00001"),
])
def test_between_is_strictly_between(low, high):
    mid = ranks.between(low, high)
    assert valid(mid)
    assert low is None or low < mid
    assert high is None or mid < high


@pytest.mark.parametrize(("low", "high"), [("b", "a"), ("a", "a")])
def test_between_rejects_out_of_order_bounds(low, high):
    with pytest.raises(ValueError):
        ranks.between(low, high)


def test_with_suffix_stays_between_the_neighbours_the_core_was_made_for():
    rng = random.Random(7)
    for _ in range(500):
        low = "".join(rng.choice(ranks.DIGITS) for _ in range(rng.randint(1, 8))).rstrip("0") or "1"
        high = ranks.after(low) if rng.random() < 0.5 else low + rng.choice(ranks.DIGITS[1:])
        core = ranks.between(low, high)
        for number in (1, 2, 35, 36, 10**6, ranks.BASE**ranks.SUFFIX_WIDTH - 1):
            rank = ranks.with_suffix(core, number)
            assert low < rank < high
            assert valid(rank)
            assert len(rank) == len(core) + ranks.SUFFIX_WIDTH + 1


def test_with_suffix_orders_by_number_and_keeps_ranks_unique():
    core = ranks.between("a", "b")
    suffixed = [ranks.with_suffix(core, n) for n in range(1, 200)]
    assert suffixed == sorted(suffixed)
    assert len(set(suffixed)) == len(suffixed)
    # Different cores never collide, even for the same number.
    assert ranks.with_suffix("a", 5) != ranks.with_suffix("ai", 5)


def test_with_suffix_rejects_numbers_that_do_not_fit():
    with pytest.raises(ValueError):
        ranks.with_suffix("i", ranks.BASE**ranks.SUFFIX_WIDTH)


def test_is_valid():
    assert ranks.is_valid("i")
    assert ranks.is_valid("0i")
    assert not ranks.is_valid("")
    assert not ranks.is_valid("i0")
    assert not ranks.is_valid("I")
    assert not ranks.is_valid("i-")


def _random_board(rng: random.Random, operations: int) -> list[str]:
    """Insert ``operations`` ranks the way the board does: at the end, at the top or between two cards."""
    board: list[str] = []
    for number in range(1, operations + 1):
        choice = rng.random()
        if not board or choice < 0.3:
            core = ranks.after(board[-1] if board else None)
            index = len(board)
        elif choice < 0.4:
            core = ranks.before(board[0])
            index = 0
        else:
            index = rng.randint(1, len(board))
            low = board[index - 1]
            high = board[index] if index < len(board) else None
            core = ranks.between(low, high)
        rank = ranks.with_suffix(core, number)
        board.insert(index, rank)
        # Sometimes take a card out again, as a move to another column does.
        if rng.random() < 0.1:
            board.pop(rng.randrange(len(board)))
    return board


@pytest.mark.parametrize("seed", range(5))
def test_random_insertions_stay_sorted_unique_and_valid(seed):
    board = _random_board(random.Random(seed), 2000)
    assert board == sorted(board)
    assert len(set(board)) == len(board)
    assert all(valid(rank) for rank in board)
    # Halving gaps grows ranks slowly: nothing near the column's 1024-character limit.
    assert max(len(rank) for rank in board) < 200


def test_repeated_insertion_into_the_same_gap():
    low, high = ranks.with_suffix("i", 1), ranks.with_suffix("j", 2)
    inserted = []
    for number in range(3, 300):
        rank = ranks.with_suffix(ranks.between(low, high), number)
        assert low < rank < high
        inserted.append(rank)
        high = rank  # always squeeze right below the previous one
    assert len(set(inserted)) == len(inserted)
    assert max(len(rank) for rank in inserted) < 1024


def test_plain_cores_are_never_left_with_a_trailing_zero():
    rng = random.Random(11)
    rank = None
    for _ in range(3000):
        rank = ranks.after(rank)
        assert valid(rank)
    for _ in range(300):
        rank = ranks.before(rank)
        assert valid(rank)
    low, high = "1", "2"
    for _ in range(300):
        mid = ranks.between(low, high)
        assert valid(mid)
        low, high = (mid, high) if rng.random() < 0.5 else (low, mid)


@pytest.mark.django_db
def test_database_order_by_rank_agrees_with_python(project, owner, statuses):
    """The board is read with ORDER BY rank: the database collation must order ranks as Python does."""
    board = _random_board(random.Random(3), 120)
    todo = statuses["todo"]
    # Start from real tasks and give them the generated ranks (test data only; no service writes ranks).
    task = factories.task(project, owner, title="seed")
    rows = [Task(project=project, status=todo, number=1000 + i, title=f"r{i}", rank=rank)
            for i, rank in enumerate(reversed(board))]
    # Ranks that differ only in a digit against a letter, or by length, are the likely collation traps.
    extra = ["a", "a1", "a1i", "az", "b", "0i", "9", "9z", "zi", "z"]
    rows += [Task(project=project, status=todo, number=5000 + i, title=f"x{i}", rank=rank)
             for i, rank in enumerate(extra)]
    Task.objects.bulk_create(rows)

    in_db = list(Task.objects.filter(status=todo).order_by("rank").values_list("rank", flat=True))
    assert in_db == sorted([task.rank, *board, *extra])
    # Range lookups (used to find a card's neighbours) agree as well.
    pivot = sorted(board)[len(board) // 2]
    greater = set(Task.objects.filter(status=todo, rank__gt=pivot).values_list("rank", flat=True))
    assert greater == {rank for rank in [task.rank, *board, *extra] if rank > pivot}
