# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-episode wall-clock watchdog of a MetaDrive evaluation: episodes run in a worker process.

A frame the software renderer never finishes (llvmpipe, headless EGL) or any other hang inside MetaDrive
or the model cannot be interrupted from Python in the same process. :class:`EpisodeWorker` therefore runs
the episodes in one child process (``multiprocessing`` 'spawn': a fresh interpreter, so torch is imported
before EGL comes up, and the driver is built before the env, as in-process). The child is reused across
episodes; when an episode passes ``timeout_s`` the child is killed, the episode is recorded as a failure
(``'timeout after N s at tick T'``, driving score 0) and a new child is started for the next episode.
The child writes the episode outputs (agent logs, ``record.json``, ``bev.png``, video) itself, into the
same folders as an in-process run; for a killed episode the parent writes ``record.json``.
"""

import logging
import multiprocessing as mp
import os
import os.path as osp
import resource
import time
import traceback
from typing import Optional, Tuple

from ..recorder import write_json
from .scoring import empty_infractions, make_record

logger = logging.getLogger(__name__)


def _worker_main(conn, ticks, cfg: dict, ctx: dict, checkpoint: Optional[str], out_dir: str) -> None:
    """Child process: build driver then env, answer ``('run', i, seed)`` requests until ``('close',)``."""
    t0 = time.perf_counter()
    env = driver = None
    try:
        os.environ.setdefault('OMP_NUM_THREADS', '1')
        from mmautomot.utils import register_all_modules

        register_all_modules(init_default_scope=True)
        imports = cfg.get('custom_imports')  # Config.fromfile imported them in the parent
        if imports:
            from mmengine.utils import import_modules_from_strings

            import_modules_from_strings(**imports)
        import torch

        torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
        from .runner import build_driver, build_env, run_one

        driver = build_driver(cfg, dt=ctx['dt'], checkpoint=checkpoint)  # before the env (EGL)
        env = build_env(ctx)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(('fatal', traceback.format_exc()))
        return
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    conn.send(('ready', dict(startup_s=time.perf_counter() - t0, rss_mb=rss_mb)))

    def on_step(n):
        ticks.value = n

    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                break
            if msg[0] != 'run':
                break
            _, i, s = msg
            try:
                row, info = run_one(env, driver, ctx, i, s, out_dir, on_step=on_step)
            except Exception:  # noqa: BLE001 - e.g. the BEV plot or the video writer
                conn.send(('error', traceback.format_exc()))
                continue
            conn.send(('done', row, info))
    finally:
        env.close()
        if hasattr(driver, 'close'):
            driver.close()


class EpisodeWorker:
    """Runs evaluation episodes in a child process under a per-episode wall-clock limit.

    Args:
        cfg (dict): the evaluation config (passed to the child, which builds driver and env from it).
        ctx (dict): :func:`~.evaluate.prepare` settings of the run.
        out_dir (str): the evaluation's output folder.
        checkpoint (str, optional): the model checkpoint (``--checkpoint``).
        timeout_s (float): wall-clock limit of one episode in seconds (reset to end, outputs included);
        start_timeout_s (float, optional): limit of starting a child (imports, model, env), not counted in
            ``timeout_s``. Defaults to ``max(timeout_s, 300)``.
        start_method (str): ``'spawn'`` (default) or ``'forkserver'``.
    """

    def __init__(
        self,
        cfg: dict,
        ctx: dict,
        out_dir: str,
        checkpoint: Optional[str],
        timeout_s: float,
        start_timeout_s: Optional[float] = None,
        start_method: str = 'spawn',
    ):
        self.cfg, self.ctx, self.out_dir, self.checkpoint = cfg, ctx, out_dir, checkpoint
        self.timeout_s = float(timeout_s)
        self.start_timeout_s = max(self.timeout_s, 300.0) if start_timeout_s is None else float(start_timeout_s)
        self._mp = mp.get_context(start_method)
        self._ticks = self._mp.RawValue('i', 0)  # no lock: a killed child must not leave one held
        self.proc, self.conn = None, None
        #: one entry per child started: ``startup_s`` (imports, driver, env) and ``rss_mb`` (peak).
        self.starts = []

    def _start(self) -> None:
        conn, child_conn = self._mp.Pipe()
        proc = self._mp.Process(
            target=_worker_main,
            args=(child_conn, self._ticks, self.cfg, self.ctx, self.checkpoint, self.out_dir),
            name='metadrive-episode-worker',
            daemon=True,
        )
        proc.start()
        child_conn.close()
        self.proc, self.conn = proc, conn
        msg = self._recv(time.perf_counter() + self.start_timeout_s)
        if msg is None or msg[0] != 'ready':
            self._kill()
            if msg is not None and msg[0] == 'fatal':
                raise RuntimeError(f'the MetaDrive episode worker could not build driver and env:\n{msg[1]}')
            raise _WorkerLost(f'the episode worker did not start within {self.start_timeout_s:g} s')
        self.starts.append(msg[1])

    def _recv(self, deadline: float):
        """The child's next message, None on timeout, ``('died', code)`` when it is gone."""
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            if self.conn.poll(min(left, 1.0)):
                try:
                    return self.conn.recv()
                except (EOFError, OSError):
                    self.proc.join(5.0)
                    return ('died', self.proc.exitcode)
            if not self.proc.is_alive() and not self.conn.poll(0):
                return ('died', self.proc.exitcode)

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(10.0)
        if self.conn is not None:
            self.conn.close()
        self.proc, self.conn = None, None

    def run(self, i: int, s: int) -> Tuple[dict, dict]:
        """Episode ``i`` with seed ``s``: its ``results.json`` entry (with ``record``) and ``metric_info``."""
        from .runner import TIMEOUT_STATUS, episode_dir, result_row

        t0 = time.perf_counter()
        self._ticks.value = 0
        try:
            if self.proc is None:
                self._start()
            t0 = time.perf_counter()
            self.conn.send(('run', i, s))
            msg = self._recv(t0 + self.timeout_s)
        except _WorkerLost as err:
            msg = ('lost', str(err))
        if msg is not None and msg[0] == 'done':
            return msg[1], msg[2]
        tick = int(self._ticks.value)
        if msg is None:
            reason, status = f'timeout after {self.timeout_s:g} s at tick {tick}', TIMEOUT_STATUS
        elif msg[0] == 'died':
            reason, status = f'episode worker died (exit code {msg[1]}) at tick {tick}', 'Failed - Worker died'
        elif msg[0] == 'lost':
            reason, status = msg[1], TIMEOUT_STATUS
        else:  # 'error': the episode ran but its outputs failed; the child lives on
            reason, status = f'episode output error: {msg[1].strip().splitlines()[-1]}', 'Failed - Output error'
        logger.warning('episode %s (seed %s) failed: %s', i, s, reason)
        if msg is None or msg[0] == 'died':
            self._kill()
        ep_dir = episode_dir(self.out_dir, i, s)
        rec = make_record(str(i), 0.0, empty_infractions(), status, 0.0, meta=dict(seed=s, ticks=tick, failure=reason))
        os.makedirs(ep_dir, exist_ok=True)
        write_json(osp.join(ep_dir, 'record.json'), rec)
        wall = time.perf_counter() - t0
        row = result_row(
            i, s, rec, self.out_dir, ep_dir, failure=reason, steps=tick, sim_s=tick * self.ctx['dt'], wall_s=wall
        )
        return row, {}

    def close(self) -> None:
        """Ask the child to finish (closing its env), kill it if it does not within 30 s."""
        if self.proc is None:
            return
        try:
            self.conn.send(('close',))
            self.proc.join(30.0)
        except (OSError, BrokenPipeError):
            pass
        self._kill()


class _WorkerLost(RuntimeError):
    """The worker process did not come up in time."""
