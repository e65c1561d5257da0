"""Activity-recognition models (torch unless noted) behind one learner interface."""
