"""The one place the compiled core is imported; everything else imports it from here."""

from wirespeed import _core

clock = _core.clock
tsc_calibrate = _core.tsc_calibrate
timebench = _core.timebench
timebench_ops = _core.timebench_ops
chase_setup = _core.chase_setup
chase_free = _core.chase_free
noop = _core.noop
