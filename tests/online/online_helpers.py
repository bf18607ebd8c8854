"""What the online tests share besides fixtures (a module of its own: ``from conftest import``
finds whichever conftest was imported first when several test folders run together)."""

HELD_OUT = "delta-coder-33b"  # the sample model the online tests add live
