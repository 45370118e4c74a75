"""Research-paper newsletter publishing: issue folders → feeds, email, WeChat and web pages."""

__version__ = "0.1.0"
