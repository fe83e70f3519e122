"""The one compiled part: the seen set that worker processes share
(checker/_sharedseen.c). ``optional``: where it cannot be built, modelcheck still
installs and its workers fall back to partitioning the seen set."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("checker._sharedseen", ["checker/_sharedseen.c"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
