# Copyright (c) mmautomot contributors. All rights reserved.
"""Read a folder of leaderboard result JSONs into validated per-route records, or fail loudly.

Bench2Drive's leaderboard writes one checkpoint JSON ``{'_checkpoint': {'records': [...]}, ...}`` per
evaluation process; the official merge concatenates every record of every file and divides the summed
``score_composed`` by 220, so a duplicate or a retried route counts twice. The rules here never turn a
malformed folder into a plausible number (each is stated in ``mmautomot/closed_loop/README.md``):

* a missing or empty folder, a file that is not valid JSON (e.g. truncated), a record without
  ``route_id`` / ``status`` / ``scores.score_composed``, a non-finite or out-of-range score, a route id
  not in the route file (when one is given), more distinct routes than expected, and the same route and
  repetition recorded twice with different results are :class:`ResultsError` naming the file and field;
* identical duplicate records count once; a ``Failed - Simulation crashed`` record is replaced by a
  record of the same route that is not a simulator crash (the runner's retry);
* ``merged.json`` (or any file carrying the official merge's top-level ``driving score`` / ``success
  rate`` / ``eval num`` keys) beside per-route files is skipped, as the official tool skips its own
  output; a folder holding only merged files is read from them;
* ``RouteScenario_<id>_rep<k>`` records are grouped by repetition ``k``: each repetition is a full run,
  metrics are computed per repetition and reported as mean +- std over repetitions, like seeds;
* fewer routes than expected is an error unless ``allow_partial``; then the missing routes count as
  failures with score 0 and the notes say how many are missing.
"""

import glob
import json
import math
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional

EXPECTED_ROUTES = 220
MERGED_KEYS = ('driving score', 'success rate', 'eval num')
_ROUTE_RE = re.compile(r'RouteScenario_(\w+?)(?:_rep(\d+))?$')


class ResultsError(ValueError):
    """A result folder that cannot give correct metrics (the message names the file and field)."""


def route_key(route_id: str) -> str:
    """``'RouteScenario_1711_rep0'`` -> ``'1711'`` (other ids are returned unchanged)."""
    m = _ROUTE_RE.search(str(route_id))
    return m.group(1) if m else str(route_id)


def route_rep(route_id: str) -> int:
    """``'RouteScenario_1711_rep1'`` -> ``1`` (0 when the id has no ``_rep`` suffix)."""
    m = _ROUTE_RE.search(str(route_id))
    return int(m.group(2)) if m and m.group(2) is not None else 0


def _is_crash(rec: dict) -> bool:
    return 'simulation crashed' in str(rec.get('status', '')).lower()


def _check_record(rec, path: str, idx: int) -> None:
    where = f'{path}: record {idx}'
    if not isinstance(rec, dict):
        raise ResultsError(f'{where} is a {type(rec).__name__}, not a dict')
    if 'route_id' not in rec:
        raise ResultsError(f"{where} lacks 'route_id' (keys {sorted(rec)})")
    where = f'{path}: {rec["route_id"]}'
    if not isinstance(rec.get('status'), str):
        raise ResultsError(f"{where} has no 'status' string")
    scores = rec.get('scores')
    if not isinstance(scores, dict) or 'score_composed' not in scores:
        raise ResultsError(
            f"{where} has no 'scores.score_composed' (a record without scores would silently count as 0)"
        )
    for name, val in scores.items():
        if not isinstance(val, (int, float)) or isinstance(val, bool) or not math.isfinite(val):
            raise ResultsError(f'{where}: scores.{name} = {val!r} is not a finite number')
    if not 0.0 <= scores['score_composed'] <= 100.0 + 1e-6:
        raise ResultsError(f'{where}: scores.score_composed = {scores["score_composed"]} is outside [0, 100]')
    infr = rec.get('infractions', {})
    if not isinstance(infr, dict):
        raise ResultsError(f"{where}: 'infractions' is not a dict")


def _same_result(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ('status', 'scores', 'infractions'))


def read_result_files(run_dir: str) -> List[dict]:
    """Parse every top-level ``*.json`` of ``run_dir``: ``[{path, data, merged}]`` (checkpoints only)."""
    if not osp.isdir(run_dir):
        raise ResultsError(f'{run_dir}: no such result folder')
    paths = sorted(glob.glob(osp.join(run_dir, '*.json')))
    if not paths:
        raise ResultsError(f'{run_dir}: no result JSON files')
    files = []
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ResultsError(
                f'{path}: not valid JSON ({err}); a truncated file (run still writing or '
                'killed): re-run that route or remove the file'
            ) from err
        if not isinstance(data, dict) or '_checkpoint' not in data:
            files.append(dict(path=path, data=None, merged=False))
            continue
        merged = osp.basename(path) == 'merged.json' or any(k in data for k in MERGED_KEYS)
        files.append(dict(path=path, data=data, merged=merged))
    return files


def load_run(
    run_dir: str,
    expected_routes: int = EXPECTED_ROUTES,
    route_ids: Optional[Iterable] = None,
    allow_partial: bool = False,
) -> dict:
    """Validated records of one result folder, grouped by repetition.

    Args:
        run_dir (str): folder of leaderboard checkpoint JSONs (top level only).
        expected_routes (int): routes of the benchmark (220).
        route_ids (iterable, optional): the benchmark's route ids (from the routes XML); records with
            other ids are an error. None = ids not checked (only the count).
        allow_partial (bool): accept fewer routes than expected (missing routes count 0).

    Returns:
        dict: ``reps`` ``{rep: {route key: record}}``, ``sources`` ``{(key, rep): path}``, ``notes`` (the
        rules applied, printed by the merge tool), ``num_missing`` ``{rep: n}``.

    Raises:
        ResultsError: see the module docstring.
    """
    files = read_result_files(run_dir)
    notes: List[str] = []
    ignored = [f['path'] for f in files if f['data'] is None]
    if ignored:
        notes.append(
            f'ignored {len(ignored)} JSON file(s) that are not leaderboard checkpoints: '
            + ', '.join(osp.basename(p) for p in ignored)
        )
    ckpts = [f for f in files if f['data'] is not None]
    raw = [f for f in ckpts if not f['merged']]
    merged = [f for f in ckpts if f['merged']]
    if raw and merged:
        notes.append(
            'skipped merged result file(s) beside the per-route files (as the official merge '
            'does): ' + ', '.join(osp.basename(f['path']) for f in merged)
        )
        use = raw
    else:
        use = raw or merged
    reps: Dict[int, Dict[str, dict]] = {}
    sources: Dict[tuple, str] = {}
    n_dup = n_retry = 0
    for f in use:
        records = (f['data'].get('_checkpoint') or {}).get('records') or []
        if not isinstance(records, list):
            raise ResultsError(f"{f['path']}: '_checkpoint.records' is not a list")
        for i, rec in enumerate(records):
            _check_record(rec, f['path'], i)
            key, rep = route_key(rec['route_id']), route_rep(rec['route_id'])
            old = reps.setdefault(rep, {}).get(key)
            if old is not None:
                if _same_result(old, rec):
                    n_dup += 1
                    continue
                if _is_crash(old) or _is_crash(rec):
                    n_retry += 1
                    if _is_crash(old) and not _is_crash(rec):
                        reps[rep][key], sources[(key, rep)] = rec, f['path']
                    continue
                raise ResultsError(
                    f'route {rec["route_id"]} is recorded twice with different results: '
                    f'{sources[(key, rep)]} (status {old.get("status")!r}, score '
                    f'{old["scores"]["score_composed"]}) and {f["path"]} (status {rec.get("status")!r}, '
                    f'score {rec["scores"]["score_composed"]}); keep one of them'
                )
            reps[rep][key], sources[(key, rep)] = rec, f['path']
    if not reps:
        raise ResultsError(
            f'{run_dir}: no route records in ' + ', '.join(osp.basename(f['path']) for f in ckpts)
            if ckpts
            else f'{run_dir}: no leaderboard checkpoint JSON files'
        )
    if n_dup:
        notes.append(f'{n_dup} identical duplicate record(s) counted once')
    if n_retry:
        notes.append(f'{n_retry} simulator-crash record(s) replaced by the retried route')
    known = None if route_ids is None else {route_key(r) for r in route_ids}
    num_missing = {}
    for rep, recs in sorted(reps.items()):
        if known is not None:
            unknown = sorted(set(recs) - known)
            if unknown:
                raise ResultsError(
                    f'{len(unknown)} route id(s) not in the route file: '
                    + ', '.join(sources[(k, rep)] + ':' + k for k in unknown[:5])
                )
        if len(recs) > expected_routes:
            raise ResultsError(
                f'{run_dir}: rep{rep} has {len(recs)} distinct routes but the benchmark has '
                f'{expected_routes} (unknown route ids? pass --routes / --b2d-root)'
            )
        missing = expected_routes - len(recs)
        num_missing[rep] = missing
        if missing and not allow_partial:
            raise ResultsError(
                f'{run_dir}: rep{rep} has {len(recs)} of {expected_routes} routes '
                f'({missing} missing); finish the run or pass --allow-partial (missing '
                'routes then count as failures with score 0)'
            )
        if missing:
            notes.append(f'rep{rep}: {missing} of {expected_routes} routes missing (counted as failures with score 0)')
    if known is None:
        notes.append('route ids not checked against a route file (pass --routes or --b2d-root)')
    if len(reps) > 1:
        notes.append(
            f'{len(reps)} repetitions (rep{min(reps)}..rep{max(reps)}): metrics per repetition, '
            'reported as mean +- std over repetitions'
        )
    return dict(reps=reps, sources=sources, notes=notes, num_missing=num_missing)
