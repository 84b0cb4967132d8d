"""Signals of studies: ``study_finished`` is sent once a study has finished (completed or
failed, its statistics computed), from the process that finished it; ``study_id`` names it.
Walk-forward windows listen to run their out-of-sample part."""

from __future__ import annotations

from django.dispatch import Signal

study_finished = Signal()
