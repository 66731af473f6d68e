"""Pure domain code: no botbuilder, msgraph or storage imports."""
