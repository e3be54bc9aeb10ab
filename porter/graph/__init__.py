"""Graph: loading model entrypoints, torch.export, the operator inventory, Neuron compatibility."""
