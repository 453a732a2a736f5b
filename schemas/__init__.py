"""The JSON Schemas of the events this service reads and writes (at-core's, and ours beside them).

Not code: a package only so that every install, editable or not, carries the files beside
common/ where common.contracts reads them.
"""
