# What SnakeBridge asks an interpreter, at build time (lib/mix/build/mix_python.exs) and
# before the embedded Python starts (lib/snake_bridge/python_env.ex), one answer a line:
# Py_ENABLE_SHARED (1 when it has a shared libpython), the base interpreter (a venv's
# python names the one it was made from), the version, and what the file runs as (a pyenv
# shim or a wrapper names the real binary).
import os, sys, sysconfig
print(sysconfig.get_config_var('Py_ENABLE_SHARED'))
print(os.path.realpath(getattr(sys, '_base_executable', None) or sys.executable))
print('%d.%d.%d' % sys.version_info[:3])
print(sys.executable)
