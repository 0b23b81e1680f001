# Copyright (c) mmautomot contributors. All rights reserved.
"""mmautomot: an MMEngine-based toolbox for vision-language-action end-to-end driving."""

from .version import __version__

__all__ = ['__version__']
