# Copyright (c) mmautomot contributors. All rights reserved.
