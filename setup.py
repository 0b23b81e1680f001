"""Install mmautomot. The pinned stack is installed by tools/setup_env.sh (mmcv needs a source build)."""

import os.path as osp

from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmautomot', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Read a requirements file, ignoring comments and nested includes."""
    reqs = []
    with open(osp.join(osp.dirname(__file__), 'requirements', fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


setup(
    name='mmautomot',
    version=get_version(),
    description='OpenMMLab-style toolbox for vision-language-action end-to-end autonomous driving',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'projects')),
    include_package_data=True,
    python_requires='>=3.10,<3.12',
    license='Apache License 2.0',
    # mmcv (source build), mmdet, mmdet3d and nuscenes-devkit are installed by tools/setup_env.sh.
    install_requires=parse_requirements('runtime.txt') + ['mmengine==0.10.7'],
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'optional': parse_requirements('optional.txt'),
        'metadrive': parse_requirements('metadrive.txt'),
        'build': parse_requirements('build.txt'),
    },
    zip_safe=False,
)
