"""Getting work back after crashes: the clock's watchdog and the sweep of crash leftovers."""
