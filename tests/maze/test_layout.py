"""Grid parsing, validation and shortest paths behind the maze envs and the experts."""

from __future__ import annotations

import pytest

from adiff_env.errors import UnknownNameError
from adiff_env.maze.layout import (
    bfs_distances,
    farthest_cell,
    layout_names,
    read_layout_file,
    resolve_layout_path,
    route_turns,
    shortest_path,
    validate_layout,
)

UMAZE = [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]


def test_shortest_path_and_distances_on_umaze():
    layout = validate_layout(UMAZE)
    assert shortest_path(layout, (3, 1), (1, 1)) == [(3, 1), (3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]
    assert bfs_distances(layout, (1, 1))[(3, 1)] == 6
    assert farthest_cell(layout, (1, 1)) == (3, 1)
    with pytest.raises(ValueError, match="not a free cell"):
        bfs_distances(layout, (0, 0))


def test_route_turns_on_umaze():
    layout = validate_layout(UMAZE)
    assert route_turns(layout, (1, 1), (1, 3)) == 0  # straight along the top row
    assert route_turns(layout, (1, 1), (1, 1)) == 0
    assert route_turns(layout, (1, 2), (2, 3)) == 1  # one corner at (1, 3)
    assert route_turns(layout, (3, 1), (1, 1)) == 2  # round the U: corners at (3, 3) and (1, 3)


def test_shortest_path_unreachable():
    layout = validate_layout([[1, 1, 1, 1, 1], [1, 0, 1, 0, 1], [1, 1, 1, 1, 1]])
    with pytest.raises(ValueError, match="cannot be reached"):
        shortest_path(layout, (1, 1), (1, 3))


@pytest.mark.parametrize(("grid", "match"), [
    ("#####", "list of rows"),
    ([], "list of rows"),
    (["#.#", "#.#"], "every row must be a list"),
    ([[1, 1], [1, 1]], "at least 3x3"),
    ([[1, 1, 1], [1, True, 1], [1, 1, 1]], "unknown cell value True"),
])
def test_validate_rejects_malformed_grids(grid, match):
    with pytest.raises(ValueError, match=match):
        validate_layout(grid)


def test_catalog_names_and_text_round_trip(tmp_path):
    assert {"umaze.txt", "medium.txt", "large.txt"} <= set(layout_names())
    assert resolve_layout_path("medium") == resolve_layout_path("medium.txt")
    layout = validate_layout(read_layout_file("large"))
    path = tmp_path / "copy.txt"
    path.write_text(layout.to_text() + "\n\n")  # trailing blank lines are ignored
    assert validate_layout(read_layout_file(path)) == layout
    with pytest.raises(UnknownNameError, match="<path to a .txt file>"):
        resolve_layout_path(tmp_path / "missing.txt")
