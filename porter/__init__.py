"""neuron-porter: bring CUDA-flavoured PyTorch code to AWS Trainium and Inferentia."""

__version__ = "0.1.0"
