"""`python -m customers.io.pipeline_child`: the preparing process of a big import run
(customers/io/pipeline.py). Reads one pickled job description on stdin, writes the prepared chunks
to stdout; touches no database."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    import django

    django.setup()
    from customers.io.pipeline import child_main

    child_main(sys.stdin.buffer, sys.stdout.buffer)
