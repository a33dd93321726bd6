"""Reading results files once (files), formatting them (tables), rendering them many ways."""
