"""Planted circuits sharing one MLP, a transcoder of that MLP, and the pipeline that clusters its latents'
co-activations back into circuits."""
