mod testbed;
