"""Singer tap for a whole Kustomer org, incremental, older-than-search-window data included."""
