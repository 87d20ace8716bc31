"""Installs vidseg and the method packages (``pip install -e . --no-build-isolation``)."""
from setuptools import find_packages, setup

PROJECTS = []  # method packages under projects/, discovered by vidseg.plugins via entry points

setup(
    name="vidseg",
    version="0.1.0",
    description="Detectron2 extension: five video-segmentation methods behind one entry point",
    python_requires=">=3.10",
    packages=find_packages(include=["vidseg", "vidseg.*", "projects", "projects.*"]),
    package_data={"vidseg": ["layers/ms_deform_attn/csrc/**/*"]},
    entry_points={"vidseg.projects": [f"{p} = projects.{p}" for p in PROJECTS]},
)
