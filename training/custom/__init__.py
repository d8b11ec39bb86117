"""`edgeke train`: a user's own folder of labelled images or signal recordings to a multi-exit model and a flow."""
