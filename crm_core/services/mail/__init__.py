"""Email in the CRM: connected boxes (boxes), sending from a card (outgoing), reading boxes and
landing letters on items (incoming, poll), letters as text (parse), the wire (transport), the
passwords' encryption (crypto) and the rules of typed input and limits (rules)."""
