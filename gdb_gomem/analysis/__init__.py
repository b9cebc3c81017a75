"""Pure analysis: works on bytes and addresses, never imports gdb."""
