"""The thin command-line front end of nvcontainer (``nvc-cli``), built with typer."""
