"""Outside services behind small interfaces. A provider never touches the database."""
