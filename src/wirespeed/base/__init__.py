"""Foundations every layer above uses and that use nothing of wirespeed but the compiled core:
errors, units, packet templates, namespaces and interfaces, output formats, reference figures."""
