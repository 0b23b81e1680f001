# Copyright (c) mmautomot contributors. All rights reserved.
"""Run a Bench2Drive evaluation over N CARLA instances, one leaderboard process per route.

Every route gets its own routes XML (``<out>/routes/<id>.xml``) and checkpoint JSON
(``<out>/results/<id>.json``) so instances never share a file and a run can resume: a route whose
checkpoint holds a finished record (status not a simulator / agent crash) is skipped. A route whose
simulator crashed (status 'Failed - Simulation crashed', a missing record, or a non-zero exit without
record) gets the CARLA instance restarted and is retried up to ``max_retries`` times.

Commands are templates formatted with ``{port}``, ``{tm_port}``, ``{gpu}``, ``{routes}``,
``{route_id}``, ``{checkpoint}``, ``{save_path}``, ``{instance}``; they run through :mod:`subprocess`
in their own process group, and only these process groups are ever signalled.
"""

import json
import logging
import os
import os.path as osp
import shlex
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from queue import Empty, Queue
from typing import Dict, List, Optional

logger = logging.getLogger(__name__)

CRASH_MARKERS = ('Simulation crashed',)


def split_routes(routes_xml: str, out_dir: str) -> List[str]:
    """Write one XML per ``<route>`` of ``routes_xml`` into ``out_dir``; return the route ids."""
    tree = ET.parse(routes_xml)
    root = tree.getroot()
    os.makedirs(out_dir, exist_ok=True)
    ids = []
    for route in root.iter('route'):
        rid = route.get('id')
        if rid is None:
            raise ValueError(f'{routes_xml}: a <route> has no id attribute')
        single = ET.Element(root.tag, root.attrib)
        single.append(route)
        ET.ElementTree(single).write(osp.join(out_dir, f'{rid}.xml'), encoding='utf-8', xml_declaration=True)
        ids.append(str(rid))
    if not ids:
        raise ValueError(f'{routes_xml}: no <route> elements')
    return ids


def route_status(checkpoint: str) -> Optional[str]:
    """Status of the (single) record in a route checkpoint, None if absent/unreadable."""
    try:
        with open(checkpoint) as f:
            records = json.load(f)['_checkpoint']['records']
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(records[-1].get('status')) if records else None


def is_finished(status: Optional[str]) -> bool:
    return status is not None and not any(m in status for m in CRASH_MARKERS)


@dataclass
class RunnerConfig:
    """Settings of :class:`EvaluationRunner` (ports: instance i uses ``base_port + i * port_step`` and
    ``tm_base_port + i * port_step``; GPU ``gpus[i % len(gpus)]``)."""

    carla_cmd: str
    leaderboard_cmd: str
    out_dir: str
    num_instances: int = 1
    base_port: int = 2000
    tm_base_port: int = 8000
    port_step: int = 150
    gpus: List[str] = field(default_factory=lambda: ['0'])
    carla_startup_s: float = 20.0
    max_retries: int = 2
    route_timeout_s: Optional[float] = None
    env: Dict[str, str] = field(default_factory=dict)


class CarlaInstance:
    """One CARLA server process group started (and only ever stopped) by this runner."""

    def __init__(self, index: int, cfg: RunnerConfig):
        self.index, self.cfg = index, cfg
        self.port = cfg.base_port + index * cfg.port_step
        self.tm_port = cfg.tm_base_port + index * cfg.port_step
        self.gpu = cfg.gpus[index % len(cfg.gpus)]
        self.proc: Optional[subprocess.Popen] = None

    def fmt(self, template: str, **extra) -> List[str]:
        return shlex.split(
            template.format(port=self.port, tm_port=self.tm_port, gpu=self.gpu, instance=self.index, **extra)
        )

    def start(self) -> None:
        self.stop()
        log = open(osp.join(self.cfg.out_dir, 'logs', f'carla_{self.index}.log'), 'ab')
        self.proc = subprocess.Popen(
            self.fmt(self.cfg.carla_cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.cfg.env},
        )
        log.close()
        time.sleep(self.cfg.carla_startup_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Terminate this instance's own process group (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.proc = None


class EvaluationRunner:
    """Distribute routes over CARLA instances (one worker thread each), resume and retry."""

    def __init__(self, cfg: RunnerConfig):
        self.cfg = cfg
        for sub in ('routes', 'results', 'logs', 'save'):
            os.makedirs(osp.join(cfg.out_dir, sub), exist_ok=True)
        self.attempts: Dict[str, int] = {}
        self._lock = threading.Lock()

    def checkpoint(self, rid: str) -> str:
        return osp.join(self.cfg.out_dir, 'results', f'{rid}.json')

    def _run_route(self, inst: CarlaInstance, rid: str) -> str:
        cfg = self.cfg
        save_path = osp.join(cfg.out_dir, 'save')
        cmd = inst.fmt(
            cfg.leaderboard_cmd,
            routes=osp.join(cfg.out_dir, 'routes', f'{rid}.xml'),
            route_id=rid,
            checkpoint=self.checkpoint(rid),
            save_path=save_path,
        )
        env = {**os.environ, **cfg.env, 'SAVE_PATH': save_path, 'ROUTES_SUBSET': rid}
        with open(osp.join(cfg.out_dir, 'logs', f'route_{rid}.log'), 'ab') as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
            try:
                code = proc.wait(timeout=cfg.route_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = -9
        status = route_status(self.checkpoint(rid))
        logger.info('route %s on instance %d: exit %s, status %s', rid, inst.index, code, status)
        return status if status is not None else f'no record (exit code {code})'

    def _worker(self, index: int, queue: Queue) -> None:
        inst = CarlaInstance(index, self.cfg)
        try:
            while True:
                try:
                    rid = queue.get_nowait()
                except Empty:
                    return
                for attempt in range(self.cfg.max_retries + 1):
                    if not inst.alive():
                        inst.start()
                    with self._lock:
                        self.attempts[rid] = attempt + 1
                    status = self._run_route(inst, rid)
                    if is_finished(status) and not status.startswith('no record'):
                        break
                    logger.warning('route %s: %s; restarting CARLA instance %d', rid, status, index)
                    inst.stop()
        finally:
            inst.stop()

    def run(self, routes_xml: str) -> Dict[str, Optional[str]]:
        """Evaluate every route of ``routes_xml`` not finished yet; return ``{route id: status}``."""
        ids = split_routes(routes_xml, osp.join(self.cfg.out_dir, 'routes'))
        todo = [r for r in ids if not is_finished(route_status(self.checkpoint(r)))]
        logger.info('%d routes, %d to run, %d already finished', len(ids), len(todo), len(ids) - len(todo))
        queue: Queue = Queue()
        for rid in todo:
            queue.put(rid)
        threads = [
            threading.Thread(target=self._worker, args=(i, queue), daemon=True)
            for i in range(min(self.cfg.num_instances, max(1, len(todo))))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {rid: route_status(self.checkpoint(rid)) for rid in ids}
