"""The invitation page a Space invitation's mailed link opens (README "Pages")."""
