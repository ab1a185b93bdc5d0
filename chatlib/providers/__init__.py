"""Model sources behind one contract (``base.Provider``); SDKs are imported only here."""
