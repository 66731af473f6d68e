"""Enrollment Doctor: a Teams bot that diagnoses and fixes Windows bulk enrollment failures."""
